/* The huggingface_hub cache layout (see ferry/hub.h):
 *   ROOT/models--ORG--NAME/blobs/<sha256 or git sha1>
 *   ROOT/models--ORG--NAME/refs/<revision>            (text: the commit)
 *   ROOT/models--ORG--NAME/snapshots/<commit>/<path>  -> ../../blobs/<name> (one ../ more per
 * folder) */
#define _GNU_SOURCE
#include "ferry/hub.h"
#include "ferry/file.h"
#include "ferry/hash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p for the folders of path (all but its last part when skip_last). */
static int make_dirs(const char *path, int skip_last, struct ferry_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    char *s = skip_last ? strrchr(buf, '/') : NULL;
    if (skip_last && !s) return 0;
    if (s) *s = 0;
    if (ferry_mkdirs(buf, 0755) != 0)
        return ferry_error_set(err, FERRY_ECANTCREAT, buf, FERRY_NO_OFFSET, NULL, "mkdir: %s",
                               strerror(errno));
    return 0;
}

static void repo_dir(const char *root, const struct ferry_hub_repo *r, char *out, size_t n)
{
    int k = snprintf(out, n, "%s/models--", root);
    for (const char *c = r->repo; *c && (size_t)k + 3 < n; c++) {
        if (*c == '/')
            out[k++] = '-', out[k++] = '-';
        else
            out[k++] = *c;
    }
    out[k] = 0;
}

int ferry_hub_cache_blobs(const char *root, const struct ferry_hub_repo *r, char *dir, size_t n,
                          struct ferry_error *err)
{
    char base[2048];
    repo_dir(root, r, base, sizeof(base));
    snprintf(dir, n, "%s/blobs", base);
    return make_dirs(dir, 0, err);
}

void ferry_hub_blob_name(const struct ferry_hub_file *f, char out[65])
{
    if (f->lfs)
        ferry_hex(f->sha256, 32, out);
    else
        ferry_hex(f->git_sha1, 20, out);
}

int ferry_hub_cache_link(const char *root, const struct ferry_hub_repo *r,
                         const struct ferry_hub_file *f, struct ferry_error *err)
{
    char base[2048], link[4096], target[4096], tmp[4200], blob[65];
    repo_dir(root, r, base, sizeof(base));
    snprintf(link, sizeof(link), "%s/snapshots/%s/%s", base, r->commit, f->path);
    int rc = make_dirs(link, 1, err);
    if (rc) return rc;
    size_t k = 0;
    for (const char *c = f->path; *c; c++)
        if (*c == '/') k++;
    target[0] = 0;
    for (size_t i = 0; i < k + 2; i++) strcat(target, "../");
    ferry_hub_blob_name(f, blob);
    strcat(target, "blobs/");
    strcat(target, blob);
    snprintf(tmp, sizeof(tmp), "%s.ferry-tmp", link);
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
        unlink(tmp);
        return ferry_error_set(err, FERRY_ECANTCREAT, link, FERRY_NO_OFFSET, NULL, "symlink: %s",
                               strerror(errno));
    }
    return 0;
}

int ferry_hub_cache_ref(const char *root, const struct ferry_hub_repo *r, struct ferry_error *err)
{
    if (!strcmp(r->revision, r->commit)) return 0;
    char base[2048], path[2400];
    repo_dir(root, r, base, sizeof(base));
    snprintf(path, sizeof(path), "%s/refs/%s", base, r->revision);
    int rc = make_dirs(path, 1, err);
    if (rc) return rc;
    struct ferry_out o;
    if ((rc = ferry_out_open(&o, path, 1, err))) return rc;
    if ((rc = ferry_out_write(&o, r->commit, strlen(r->commit), err))) {
        ferry_out_abort(&o);
        return rc;
    }
    return ferry_out_commit(&o, err);
}
