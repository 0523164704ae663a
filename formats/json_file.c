/* JSON documents from files, opened with the one regular-file check of file.c. */
#include "ferry/json_file.h"
#include "ferry/file.h"

#include <stdlib.h>
#include <string.h>
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

int ferry_json_save(const char *path, json_t *doc, int force, struct ferry_error *err)
{
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? realloc(text, n + 2) : NULL;
    if (!line) {
        free(text);
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    line[n] = '\n', line[n + 1] = 0;
    int rc = ferry_write_file(path, line, n + 1, force, err);
    free(line);
    return rc;
}
