/* ferry_fetch_hub (see ferry/fetch_flow.h): a hub repository at one commit, into a plain folder
 * or the huggingface_hub cache layout. */
#include "flow.h"
#include "ferry/file.h"
#include "ferry/hub.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ferry_fetch_hub_default_cache(char *buf, size_t n)
{
    const char *c = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"),
               *xdg = getenv("XDG_CACHE_HOME");
    if (c && *c)
        snprintf(buf, n, "%s", c);
    else if (home && *home)
        snprintf(buf, n, "%s/hub", home);
    else if (xdg && *xdg)
        snprintf(buf, n, "%s/huggingface/hub", xdg);
    else
        snprintf(buf, n, "%s/.cache/huggingface/hub", getenv("HOME") ? getenv("HOME") : ".");
}

static int wanted(const struct ferry_fetch_hub_opts *h, const char *path)
{
    int in = h->ninclude == 0;
    for (size_t i = 0; i < h->ninclude && !in; i++) in = fnmatch(h->include[i], path, 0) == 0;
    for (size_t i = 0; i < h->nexclude && in; i++) in = fnmatch(h->exclude[i], path, 0) != 0;
    return in;
}

/* An existing file: 1 when it already is the expected one (skipped), 0 to download, -1 refused. */
static int existing(const char *path, const struct ferry_hub_file *f,
                    const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                    struct ferry_fetch_tally *t, const char *label)
{
    if (access(path, F_OK) != 0) return 0;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!ferry_fetch_check_file(path, f->size, f->lfs ? f->sha256 : NULL,
                                f->lfs ? NULL : f->git_sha1, &err)) {
        flow_skip(ev, t, label, f->size, "present and verified");
        return 1;
    }
    if (o->force) return 0;
    ferry_error_clear(&err);
    ferry_error_set(&err, FERRY_ECANTCREAT, path, FERRY_NO_OFFSET, NULL,
                    "exists and differs from the hub's hash (use --force to replace it)");
    flow_fail(ev, t, label, &err);
    return -1;
}

struct hub_job {
    const struct ferry_hub_repo *r;
    const char *dir, *blobs;
    const struct ferry_fetch_hub_opts *h;
    const struct ferry_fetch_opts *o, *ho; /* ho: with the hub's token */
    const struct ferry_fetch_events *ev;
    struct ferry_fetch_tally *t;
};

/* One file of the repository (flow_each runs these o->jobs at a time) */
static void hub_file(void *ctx, size_t i)
{
    struct hub_job *j = ctx;
    const struct ferry_hub_repo *r = j->r;
    const struct ferry_fetch_hub_opts *h = j->h;
    const struct ferry_fetch_events *ev = j->ev;
    struct ferry_fetch_tally *t = j->t;
    const struct ferry_hub_file *f = &r->files[i];
    if (!wanted(h, f->path)) return;
    struct ferry_error err;
    char url[8192], label[2048], fdir[4096], name[1024], final[8192];
    ferry_hub_resolve_url(r, f->path, url, sizeof(url));
    snprintf(label, sizeof(label), "%s/%s", r->repo, f->path);
    ferry_error_clear(&err);
    if (h->hf_cache) {
        snprintf(fdir, sizeof(fdir), "%s", j->blobs);
        ferry_hub_blob_name(f, name);
    } else if (flow_place(j->dir, f->path, fdir, sizeof(fdir), name, sizeof(name), &err)) {
        flow_fail(ev, t, label, &err);
        return;
    }
    snprintf(final, sizeof(final), "%s/%s", fdir, name);
    int ex = existing(final, f, j->o, ev, t, label);
    if (ex < 0) return;
    struct ferry_fetch_opts fo = *j->ho;
    fo.sha256 = f->lfs ? f->sha256 : NULL;
    fo.git_sha1 = f->lfs ? NULL : f->git_sha1;
    fo.force = ex == 0 && access(final, F_OK) == 0; /* replacing a wrong file was allowed above */
    if (!ex && flow_one(url, fdir, name, label, &fo, ev, t, &err)) {
        flow_fail(ev, t, label, &err);
        return;
    }
    ferry_error_clear(&err);
    flow_lock(); /* the records and links share folders and a .gitignore between files */
    int rc = h->hf_cache ? ferry_hub_cache_link(j->dir, r, f, &err)
                         : ferry_hub_local_record(j->dir, r, f, &err);
    flow_unlock();
    if (rc) flow_fail(ev, t, label, &err);
}

int ferry_fetch_hub(const char *spec, const char *dir, const struct ferry_fetch_hub_opts *h,
                    const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                    struct ferry_fetch_tally *t)
{
    struct ferry_hub_repo r;
    memset(&r, 0, sizeof(r));
    struct ferry_error err;
    ferry_error_clear(&err);
    if (flow_dir(dir, ev, t)) return t->code;
    char token[4096];
    struct ferry_fetch_opts ho = *o;
    if (!ho.bearer) ho.bearer = ferry_hub_token(token, sizeof(token));
    if (ferry_hub_parse(spec, &r, &err) || ferry_hub_list(&r, ho.bearer, &err)) {
        flow_fail(ev, t, spec, &err);
        goto out;
    }
    if (ev && ev->note) {
        char text[1024];
        snprintf(text, sizeof(text), "%s@%s: commit %s, %zu files", r.repo, r.revision, r.commit,
                 r.nfiles);
        ev->note(ev->ctx, text, 0);
    }
    uint64_t total = 0, nwanted = 0;
    for (size_t i = 0; i < r.nfiles; i++)
        if (wanted(h, r.files[i].path)) total += r.files[i].size, nwanted++;
    if (ev && ev->plan) ev->plan(ev->ctx, spec, nwanted, total);
    char blobs[4096];
    if (h->hf_cache && ferry_hub_cache_blobs(dir, &r, blobs, sizeof(blobs), &err)) {
        flow_fail(ev, t, spec, &err);
        goto out;
    }
    struct hub_job j = {&r, dir, blobs, h, o, &ho, ev, t};
    flow_each(o, r.nfiles, hub_file, &j);
    ferry_error_clear(&err);
    if (h->hf_cache && !flow_cancelled(o) && ferry_hub_cache_ref(dir, &r, &err))
        flow_fail(ev, t, spec, &err);
out:
    ferry_hub_free(&r);
    return t->code;
}
