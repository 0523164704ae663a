/* Paths into archives, "ARCHIVE//PATH" (see ferry/archive.h): looked up in the archive's listing,
 * which is kept for the last archive asked about (a conversion asks for config.json, the
 * tokenizer and the weights in turn). */
#define _GNU_SOURCE
#include "ferry/archive.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char path[4096];
    struct timespec mtime;
    off_t size;
    struct ferry_archive a;
    int valid;
} cache;

int ferry_archive_split(const char *path, char *archive, size_t n, const char **member)
{
    const char *sep = strstr(path, "//");
    struct stat st;
    if (!sep || (size_t)(sep - path) >= n || stat(path, &st) == 0) return 0;
    memcpy(archive, path, (size_t)(sep - path));
    archive[sep - path] = 0;
    if (!ferry_archive_name(archive) || stat(archive, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    const char *m = sep + 2;
    while (*m == '/') m++;
    *member = m;
    return 1;
}

int ferry_archive_lookup(const char *path, char *archive, size_t n,
                         struct ferry_archive_member *out, int *filtered, struct ferry_error *err)
{
    const char *name;
    if (!ferry_archive_split(path, archive, n, &name)) return 0;
    struct stat st;
    stat(archive, &st);
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (!cache.valid || strcmp(cache.path, archive) || cache.size != st.st_size ||
        cache.mtime.tv_sec != st.st_mtim.tv_sec || cache.mtime.tv_nsec != st.st_mtim.tv_nsec) {
        if (cache.valid) ferry_archive_free(&cache.a);
        cache.valid = 0;
        rc = ferry_archive_list(archive, NULL, &cache.a, err);
        if (!rc) {
            snprintf(cache.path, sizeof(cache.path), "%s", archive);
            cache.mtime = st.st_mtim, cache.size = st.st_size, cache.valid = 1;
        }
    }
    if (!rc) {
        memset(out, 0, sizeof(*out));
        size_t nl = strlen(name);
        const struct ferry_archive_member *m = nl ? ferry_archive_find(&cache.a, name) : NULL;
        if (m)
            *out = *m;
        else /* a folder: the root, or a name that other members live below */
            for (size_t i = 0; i < cache.a.n && !out->dir; i++)
                out->dir =
                    !nl || (!strncmp(cache.a.m[i].name, name, nl) && cache.a.m[i].name[nl] == '/');
        out->name = NULL;
        if (!m && !out->dir)
            rc = ferry_error_set(err, FERRY_ENOINPUT, path, FERRY_NO_OFFSET, NULL,
                                 "the archive has no such file");
        *filtered = 0; /* compressed, or a zip: members cannot be read in place */
        for (size_t i = 0; i < cache.a.n && !*filtered; i++)
            *filtered = !cache.a.m[i].dir && !cache.a.m[i].in_place;
    }
    pthread_mutex_unlock(&lock);
    return rc ? rc : 1;
}

int ferry_path_kind(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) return S_ISDIR(st.st_mode) ? 1 : S_ISREG(st.st_mode) ? 0 : -1;
    char archive[4096];
    struct ferry_archive_member m;
    struct ferry_error err;
    ferry_error_clear(&err);
    int filtered;
    if (ferry_archive_lookup(path, archive, sizeof(archive), &m, &filtered, &err) != 1) return -1;
    return m.dir ? 1 : 0;
}

void ferry_archive_root(const char *archive, char *out, size_t n)
{
    snprintf(out, n, "%s//", archive);
    char a[4096];
    struct ferry_archive_member m;
    struct ferry_error err;
    ferry_error_clear(&err);
    int filtered;
    if (ferry_archive_lookup(out, a, sizeof(a), &m, &filtered, &err) != 1) return;
    pthread_mutex_lock(&lock);
    const char *top = NULL;
    size_t tl = 0;
    int one = cache.valid && cache.a.n > 0;
    for (size_t i = 0; one && i < cache.a.n; i++) {
        const char *nm = cache.a.m[i].name, *sl = strchr(nm, '/');
        size_t l = sl ? (size_t)(sl - nm) : strlen(nm);
        if (!sl && !cache.a.m[i].dir)
            one = 0; /* a file at the top */
        else if (!top)
            top = nm, tl = l;
        else
            one = l == tl && !strncmp(nm, top, l);
    }
    if (one && top) snprintf(out, n, "%s//%.*s", archive, (int)tl, top);
    pthread_mutex_unlock(&lock);
}
