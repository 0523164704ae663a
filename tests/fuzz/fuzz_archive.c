/* libFuzzer target: any bytes read as a model archive (tar or zip, plain or compressed) give a
 * clean error or a listing whose members stream, never a crash. Build with -DFERRY_FUZZ=ON. */
#define _GNU_SOURCE
#include "ferry/archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static int on_data(void *ctx, const void *bytes, size_t n)
{
    (void)bytes;
    *(size_t *)ctx += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct ferry_archive a;
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_archive_limits lim = {.max_ratio = 100, .max_bytes = 64u << 20};
    if (ferry_archive_list(path, &lim, &a, &err) == 0) {
        for (size_t i = 0; i < a.n; i++) (void)ferry_archive_find(&a, a.m[i].name);
        ferry_archive_free(&a);
        size_t total = 0;
        struct ferry_archive_visitor v = {&total, NULL, on_data, NULL};
        ferry_archive_stream(path, &lim, &v, &err);
    }
    close(fd);
    return 0;
}
