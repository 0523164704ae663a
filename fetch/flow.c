/* The common part of the fetch workflows (see ferry/fetch_flow.h): one file with its events,
 * the tally, and where a repository path lands on disk. */
#include "flow.h"
#include "ferry/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct relay {
    const struct ferry_fetch_events *ev;
    const char *name;
};

static void on_total(void *ctx, uint64_t bytes)
{
    struct relay *r = ctx;
    if (r->ev && r->ev->size) r->ev->size(r->ev->ctx, r->name, bytes);
}

static void on_bytes(void *ctx, uint64_t bytes)
{
    struct relay *r = ctx;
    if (r->ev && r->ev->progress) r->ev->progress(r->ev->ctx, r->name, bytes);
}

void flow_fail(const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t, const char *name,
               const struct ferry_error *err)
{
    if (ev && ev->error) ev->error(ev->ctx, name, err);
    if (t->code == 0 || err->code == FERRY_EINTR) t->code = err->code;
    t->failed++;
}

void flow_skip(const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t, const char *name,
               uint64_t bytes, const char *reason)
{
    if (ev && ev->skipped) ev->skipped(ev->ctx, name, bytes, reason);
    t->skipped++;
}

int flow_one(const char *url, const char *dir, const char *name, const char *label,
             const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
             struct ferry_fetch_tally *t, struct ferry_error *err)
{
    struct relay rl = {ev, label};
    struct ferry_fetch_opts fo = *o;
    fo.progress = on_bytes, fo.progress_total = on_total, fo.progress_ctx = &rl;
    if (ev && ev->start) ev->start(ev->ctx, label);
    struct ferry_fetch_result r;
    int rc = ferry_fetch_url(url, dir, name, &fo, &r, err);
    if (rc) return rc;
    t->ok++;
    t->bytes += r.size, t->downloaded += r.downloaded;
    if (ev && ev->done) ev->done(ev->ctx, label, &r);
    return 0;
}

int ferry_fetch_file(const char *url, const char *dir, const char *name, const char *label,
                     const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                     struct ferry_fetch_tally *t)
{
    if (flow_dir(dir, ev, t)) return t->code;
    struct ferry_error err;
    ferry_error_clear(&err);
    char final[8192];
    snprintf(final, sizeof(final), "%s/%s", dir, name);
    uint64_t size;
    int fd;
    /* already here with the expected SHA-256 (a rerun after a finished fetch): nothing to do */
    if (o->sha256 && !o->force && access(final, F_OK) == 0 &&
        (fd = ferry_open_regular_sized(final, 1, &size, &err)) >= 0) {
        close(fd);
        if (!ferry_fetch_check_file(final, size, o->sha256, NULL, &err)) {
            flow_skip(ev, t, label, size, "present and verified");
            return 0;
        }
    }
    ferry_error_clear(&err);
    int rc = flow_one(url, dir, name, label, o, ev, t, &err);
    if (rc) flow_fail(ev, t, label, &err);
    return rc;
}

int flow_place(const char *dir, const char *rel, char *fdir, size_t fn, char *name, size_t nn,
               struct ferry_error *err)
{
    const char *slash = strrchr(rel, '/');
    int a = slash ? snprintf(fdir, fn, "%s/%.*s", dir, (int)(slash - rel), rel)
                  : snprintf(fdir, fn, "%s", dir);
    int b = snprintf(name, nn, "%s", slash ? slash + 1 : rel);
    if (a < 0 || (size_t)a >= fn || b < 0 || (size_t)b >= nn)
        return ferry_error_set(err, FERRY_EUSAGE, rel, FERRY_NO_OFFSET, NULL, "path too long");
    if (ferry_mkdirs(fdir, 0755) != 0)
        return ferry_error_set(err, FERRY_ECANTCREAT, fdir, FERRY_NO_OFFSET, NULL, "mkdir: %s",
                               strerror(errno));
    return 0;
}

int flow_dir(const char *dir, const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t)
{
    if (ferry_mkdirs(dir, 0755) == 0) return 0;
    struct ferry_error err;
    ferry_error_clear(&err);
    ferry_error_set(&err, FERRY_ECANTCREAT, dir, FERRY_NO_OFFSET, NULL, "cannot create: %s",
                    strerror(errno));
    flow_fail(ev, t, dir, &err);
    return -1;
}

int flow_cancelled(const struct ferry_fetch_opts *o)
{
    return o->cancel && *o->cancel;
}
