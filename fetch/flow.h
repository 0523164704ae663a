/* Private helpers of the fetch workflows (fetch/flow*.c). */
#ifndef FERRY_FETCH_FLOW_PRIVATE_H
#define FERRY_FETCH_FLOW_PRIVATE_H

#include "ferry/fetch_flow.h"

/* Reports a failure and counts it (an interruption decides the tally's code). */
void flow_fail(const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t, const char *name,
               const struct ferry_error *err);
void flow_skip(const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t, const char *name,
               uint64_t bytes, const char *reason);
/* One download with start/size/progress/done events; a failure is returned, not reported. */
int flow_one(const char *url, const char *dir, const char *name, const char *label,
             const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
             struct ferry_fetch_tally *t, struct ferry_error *err);
/* dir + relative path "a/b/c": fdir "dir/a/b" (created) and name "c". */
int flow_place(const char *dir, const char *rel, char *fdir, size_t fn, char *name, size_t nn,
               struct ferry_error *err);
int flow_cancelled(const struct ferry_fetch_opts *o);
/* Events and tallies are touched under this lock: with o->jobs > 1 files are fetched on
 * several threads, and the program's callbacks are called one at a time all the same. */
void flow_lock(void);
void flow_unlock(void);
/* fn(ctx, i) for i = 0..n-1, o->jobs at a time (in order on this thread when jobs <= 1), until
 * o->cancel is set. */
void flow_each(const struct ferry_fetch_opts *o, size_t n, void (*fn)(void *ctx, size_t i),
               void *ctx);
/* Creates the output directory of a workflow (reported and counted when it cannot). 0 or -1. */
int flow_dir(const char *dir, const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t);

/* Brings a manifest and its signature (mo->manifest: a URL or path) into dir and verifies them;
 * 0 with m filled, or -1 reported and counted. */
int flow_manifest_load(const char *dir, const struct ferry_fetch_manifest_opts *mo,
                       const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                       struct ferry_fetch_tally *t, struct ferry_manifest *m);
/* 0 when the manifest asks for no acceptance or a record counts (recorded now from mo->accept
 * or by ev->license_needed, or before); else the error to report. */
int flow_license_gate(const char *dir, const struct ferry_manifest *m,
                      const struct ferry_fetch_manifest_opts *mo,
                      const struct ferry_fetch_events *ev, struct ferry_error *err);

#endif
