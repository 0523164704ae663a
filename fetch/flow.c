/* The common part of the fetch workflows (see ferry/fetch_flow.h): one file with its events,
 * the tally, and where a repository path lands on disk. */
#include "flow.h"
#include "ferry/file.h"
#include "ferry/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void flow_lock(void)
{
    pthread_mutex_lock(&lock);
}

void flow_unlock(void)
{
    pthread_mutex_unlock(&lock);
}

struct relay {
    const struct ferry_fetch_events *ev;
    const char *name;
};

static void on_total(void *ctx, uint64_t bytes)
{
    struct relay *r = ctx;
    flow_lock();
    if (r->ev && r->ev->size) r->ev->size(r->ev->ctx, r->name, bytes);
    flow_unlock();
}

static void on_bytes(void *ctx, uint64_t bytes)
{
    struct relay *r = ctx;
    flow_lock();
    if (r->ev && r->ev->progress) r->ev->progress(r->ev->ctx, r->name, bytes);
    flow_unlock();
}

void flow_fail(const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t, const char *name,
               const struct ferry_error *err)
{
    flow_lock();
    if (ev && ev->error) ev->error(ev->ctx, name, err);
    if (t->code == 0 || err->code == FERRY_EINTR) t->code = err->code;
    t->failed++;
    flow_unlock();
}

void flow_skip(const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t, const char *name,
               uint64_t bytes, const char *reason)
{
    flow_lock();
    if (ev && ev->skipped) ev->skipped(ev->ctx, name, bytes, reason);
    t->skipped++;
    flow_unlock();
}

int flow_one(const char *url, const char *dir, const char *name, const char *label,
             const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
             struct ferry_fetch_tally *t, struct ferry_error *err)
{
    struct relay rl = {ev, label};
    struct ferry_fetch_opts fo = *o;
    fo.progress = on_bytes, fo.progress_total = on_total, fo.progress_ctx = &rl;
    flow_lock();
    if (ev && ev->start) ev->start(ev->ctx, label);
    flow_unlock();
    struct ferry_fetch_result r;
    int rc = ferry_fetch_url(url, dir, name, &fo, &r, err);
    if (rc) return rc;
    flow_lock();
    t->ok++;
    t->bytes += r.size, t->downloaded += r.downloaded;
    if (ev && ev->done) ev->done(ev->ctx, label, &r);
    flow_unlock();
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

struct each {
    const struct ferry_fetch_opts *o;
    size_t n, next;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
};

static void each_worker(void *ctx, unsigned w, unsigned nw)
{
    struct each *e = ctx;
    (void)w, (void)nw;
    for (;;) {
        flow_lock();
        size_t i = flow_cancelled(e->o) ? e->n : e->next;
        if (i < e->n) e->next++;
        flow_unlock();
        if (i >= e->n) return;
        e->fn(e->ctx, i);
    }
}

void flow_each(const struct ferry_fetch_opts *o, size_t n, void (*fn)(void *ctx, size_t i),
               void *ctx)
{
    struct each e = {o, n, 0, fn, ctx};
    unsigned jobs = o->jobs > 1 ? o->jobs : 1;
    if (jobs > n) jobs = (unsigned)n;
    if (jobs <= 1)
        each_worker(&e, 0, 1);
    else
        ferry_parallel(jobs, each_worker, &e);
}

struct files_job {
    const struct ferry_fetch_item *items;
    const struct ferry_fetch_opts *o;
    const struct ferry_fetch_events *ev;
    struct ferry_fetch_tally *t;
};

static void file_job(void *ctx, size_t i)
{
    struct files_job *j = ctx;
    const struct ferry_fetch_item *it = &j->items[i];
    ferry_fetch_file(it->url, it->dir, it->name, it->label, j->o, j->ev, j->t);
}

int ferry_fetch_files(const struct ferry_fetch_item *items, size_t n,
                      const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                      struct ferry_fetch_tally *t)
{
    struct files_job j = {items, o, ev, t};
    flow_each(o, n, file_job, &j);
    return t->code;
}
