/* The download records huggingface_hub keeps in a plain folder (`hf download --local-dir`):
 * DIR/.cache/huggingface/download/PATH.metadata holding the commit, the file's etag (LFS
 * SHA-256 or git blob SHA-1) and the time written, one per line. ferry writes them for what it
 * fetches into a plain folder (so huggingface_hub sees those files as current) and reads them to
 * know which commit a folder holds (a torrent of it can name the hub as its web seed). */
#define _GNU_SOURCE
#include "ferry/codec.h"
#include "ferry/file.h"
#include "ferry/hub.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int ferry_hub_local_record(const char *dir, const struct ferry_hub_repo *r,
                           const struct ferry_hub_file *f, struct ferry_error *err)
{
    char path[8192], base[4200], etag[65];
    snprintf(base, sizeof(base), "%s/.cache/huggingface", dir);
    snprintf(path, sizeof(path), "%s/download/%s.metadata", base, f->path);
    char *slash = strrchr(path, '/');
    *slash = 0;
    if (ferry_mkdirs(path, 0755))
        return ferry_error_set(err, FERRY_ECANTCREAT, path, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    *slash = '/';
    char gi[4300];
    snprintf(gi, sizeof(gi), "%s/.gitignore", base);
    struct stat st;
    if (stat(gi, &st) && ferry_write_file(gi, "*\n", 2, 0, err)) return err->code;
    if (f->lfs)
        ferry_hex(f->sha256, 32, etag);
    else
        ferry_hex(f->git_sha1, 20, etag);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char text[200];
    int n = snprintf(text, sizeof(text), "%s\n%s\n%lld.%03ld\n", r->commit, etag,
                     (long long)ts.tv_sec, ts.tv_nsec / 1000000);
    return ferry_write_file(path, text, (size_t)n, 1, err);
}

/* Reads the commit line of every record under d; 0 when all agree (or none), -1 on a conflict. */
static int scan(const char *d, char commit[41], int depth)
{
    DIR *dp = opendir(d);
    if (!dp || depth > 64) {
        if (dp) closedir(dp);
        return 0;
    }
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(dp))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char p[8192];
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        struct stat st;
        if (lstat(p, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            rc = scan(p, commit, depth + 1);
            continue;
        }
        size_t l = strlen(e->d_name);
        if (!S_ISREG(st.st_mode) || l < 9 || strcmp(e->d_name + l - 9, ".metadata")) continue;
        FILE *f = fopen(p, "r");
        char line[128] = "";
        if (f) {
            if (!fgets(line, sizeof(line), f)) line[0] = 0;
            fclose(f);
        }
        line[strcspn(line, "\r\n")] = 0;
        if (strlen(line) != 40 || strspn(line, "0123456789abcdef") != 40) continue;
        if (!commit[0])
            memcpy(commit, line, 41);
        else if (strcmp(commit, line))
            rc = -1;
    }
    closedir(dp);
    return rc;
}

int ferry_hub_local_commit(const char *dir, char commit[41], struct ferry_error *err)
{
    char d[4200];
    commit[0] = 0;
    snprintf(d, sizeof(d), "%s/.cache/huggingface/download", dir);
    if (scan(d, commit, 0))
        return ferry_error_set(err, FERRY_EMISMATCH, d, FERRY_NO_OFFSET, NULL,
                               "the files were fetched at different commits");
    if (!commit[0])
        return ferry_error_set(
            err, FERRY_ENOINPUT, d, FERRY_NO_OFFSET, NULL,
            "no hub download records: fetch the folder with `ferry fetch hf://...` "
            "or `hf download --local-dir`");
    return 0;
}
