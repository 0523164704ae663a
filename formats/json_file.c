/* JSON documents from files, opened with the one regular-file check of file.c. */
#include "ferry/json_file.h"
#include "ferry/file.h"

#include <unistd.h>

int ferry_json_load(const char *path, size_t flags, json_t **out, struct ferry_error *err)
{
    *out = NULL;
    int fd = ferry_open_regular(path, 0, err);
    if (fd < 0) return fd;
    json_error_t je;
    json_t *j = json_loadfd(fd, flags, &je);
    close(fd);
    if (!j)
        return ferry_error_set(err, FERRY_EMALFORMED, path, (uint64_t)je.position, NULL,
                               "not valid JSON: %s", je.text);
    *out = j;
    return 0;
}
