/* Files the fuzz harnesses lay out for a reader that takes a folder: fuzz_dir() makes
 * /tmp/ferry-fuzz-NAME-PID once, fuzz_put() writes a file in it, fuzz_drop() removes one. */
#ifndef FERRY_FUZZ_FILES_H
#define FERRY_FUZZ_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dirname[64];

static inline const char *fuzz_dir(const char *name)
{
    if (!fuzz_dirname[0]) {
        snprintf(fuzz_dirname, sizeof(fuzz_dirname), "/tmp/ferry-fuzz-%s-%d", name, (int)getpid());
        mkdir(fuzz_dirname, 0700);
    }
    return fuzz_dirname;
}

static inline void fuzz_put(const char *file, const void *d, size_t n)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", fuzz_dirname, file);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

static inline void fuzz_drop(const char *file)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", fuzz_dirname, file);
    unlink(p);
}

#endif
