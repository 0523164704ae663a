/* See fetch_hub.h. */
#include "fetch_hub.h"
#include "output.h"
#include "ferry/file.h"
#include "ferry/hub.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fetch_hub_default_cache(char *buf, size_t n)
{
    const char *c = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"), *xdg = getenv("XDG_CACHE_HOME");
    if (c && *c) snprintf(buf, n, "%s", c);
    else if (home && *home) snprintf(buf, n, "%s/hub", home);
    else if (xdg && *xdg) snprintf(buf, n, "%s/huggingface/hub", xdg);
    else snprintf(buf, n, "%s/.cache/huggingface/hub", getenv("HOME") ? getenv("HOME") : ".");
}

static int wanted(const struct fetch_hub_opts *h, const char *path)
{
    int in = h->ninclude == 0;
    for (int i = 0; i < h->ninclude && !in; i++) in = fnmatch(h->include[i], path, 0) == 0;
    for (int i = 0; i < h->nexclude && in; i++) in = fnmatch(h->exclude[i], path, 0) != 0;
    return in;
}

/* An existing file: 1 when it is already the expected one (skip), 0 to download, -1 refused. */
static int existing(const char *path, const struct ferry_hub_file *f, const struct ferry_fetch_opts *o,
                    struct fetch_tally *t, const char *label)
{
    if (access(path, F_OK) != 0) return 0;
    struct ferry_error err;
    ferry_error_clear(&err);
    int rc = ferry_fetch_check_file(path, f->size, f->lfs ? f->sha256 : NULL, f->lfs ? NULL : f->git_sha1, &err);
    if (!rc) {
        notef("%s: already present and verified", label);
        fetch_total_skip(t, f->size);
        if (g_opts.json) fetch_event("skipped", label, json_pack("{s:s}", "reason", "present and verified"));
        t->skipped++;
        return 1;
    }
    if (o->force) return 0;
    ferry_error_clear(&err);
    ferry_error_set(&err, FERRY_ECANTCREAT, path, FERRY_NO_OFFSET, NULL,
                    "exists and differs from the hub's hash (use --force to replace it)");
    fetch_fail(t, label, &err);
    return -1;
}

void fetch_hub(const char *spec, const char *dir, const struct fetch_hub_opts *h, struct ferry_fetch_opts *o,
               struct fetch_tally *t)
{
    struct ferry_hub_repo r;
    struct ferry_error err;
    ferry_error_clear(&err);
    char token[4096];
    const char *saved_bearer = o->bearer;
    if (!o->bearer) o->bearer = ferry_hub_token(token, sizeof(token));
    if (ferry_hub_parse(spec, &r, &err) || ferry_hub_list(&r, o->bearer, &err)) {
        fetch_fail(t, spec, &err);
        goto out;
    }
    notef("%s@%s: commit %s, %zu files", r.repo, r.revision, r.commit, r.nfiles);
    uint64_t total = 0;
    for (size_t i = 0; i < r.nfiles; i++)
        if (wanted(h, r.files[i].path)) total += r.files[i].size;
    fetch_total_begin(t, "total", total);
    char blobs[4096];
    if (h->hf_cache && ferry_hub_cache_blobs(dir, &r, blobs, sizeof(blobs), &err)) {
        fetch_fail(t, spec, &err);
        goto out;
    }
    for (size_t i = 0; i < r.nfiles && !g_fetch_cancel; i++) {
        const struct ferry_hub_file *f = &r.files[i];
        if (!wanted(h, f->path)) continue;
        char url[8192], label[2048], fdir[4096], name[1024], final[8192];
        ferry_hub_resolve_url(&r, f->path, url, sizeof(url));
        snprintf(label, sizeof(label), "%s/%s", r.repo, f->path);
        if (h->hf_cache) {
            snprintf(fdir, sizeof(fdir), "%s", blobs);
            ferry_hub_blob_name(f, name);
        } else {
            const char *slash = strrchr(f->path, '/');
            if (slash) snprintf(fdir, sizeof(fdir), "%s/%.*s", dir, (int)(slash - f->path), f->path);
            else snprintf(fdir, sizeof(fdir), "%s", dir);
            snprintf(name, sizeof(name), "%s", slash ? slash + 1 : f->path);
            if (ferry_mkdirs(fdir, 0755) != 0) {
                ferry_error_set(&err, FERRY_ECANTCREAT, fdir, FERRY_NO_OFFSET, NULL, "mkdir: %s", strerror(errno));
                fetch_fail(t, label, &err);
                continue;
            }
        }
        snprintf(final, sizeof(final), "%s/%s", fdir, name);
        int ex = existing(final, f, o, t, label);
        if (ex < 0) continue;
        struct ferry_fetch_opts fo = *o;
        fo.sha256 = f->lfs ? f->sha256 : NULL;
        fo.git_sha1 = f->lfs ? NULL : f->git_sha1;
        fo.force = ex == 0 && access(final, F_OK) == 0; /* replacing a wrong file was allowed above */
        if (!ex && fetch_one(url, fdir, name, label, &fo, t)) continue;
        if (h->hf_cache && ferry_hub_cache_link(dir, &r, f, &err)) fetch_fail(t, label, &err);
    }
    if (h->hf_cache && !g_fetch_cancel && ferry_hub_cache_ref(dir, &r, &err)) fetch_fail(t, spec, &err);
out:
    ferry_hub_free(&r);
    o->bearer = saved_bearer;
}
