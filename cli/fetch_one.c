/* See fetch_one.h. */
#include "fetch_one.h"
#include "output.h"
#include "progress.h"
#include "ferry/hash.h"

#include <stdio.h>
#include <stdlib.h>

volatile sig_atomic_t g_fetch_cancel;

struct fetch_ui {
    struct progress bar;
    struct fetch_tally *t;
    const char *label;
    uint64_t last_bytes;
    double last_event;
};

void fetch_tally_init(struct fetch_tally *t)
{
    *t = (struct fetch_tally){.start = now_seconds()};
}

void fetch_event(const char *type, const char *file, json_t *extra)
{
    json_t *e = json_pack("{s:s}", "event", type);
    if (file) json_object_set_new(e, "file", json_string(file));
    if (extra) json_object_update(e, extra), json_decref(extra);
    char *s = json_dumps(e, JSON_COMPACT);
    if (s) printf("%s\n", s), fflush(stdout);
    free(s);
    json_decref(e);
}

static void on_total(void *ctx, uint64_t total)
{
    struct fetch_ui *u = ctx;
    if (!g_opts.json) {
        progress_start(&u->bar, u->label, total);
        if (u->t->has_total) u->bar.parent = &u->t->total;
    } else {
        u->bar.total = total;
    }
}

static void on_bytes(void *ctx, uint64_t bytes)
{
    struct fetch_ui *u = ctx;
    if (bytes < u->last_bytes) u->last_bytes = 0; /* a restarted transfer */
    if (!g_opts.json) {
        progress_add(&u->bar, bytes - u->last_bytes);
    } else if (now_seconds() - u->last_event >= 1.0) {
        u->last_event = now_seconds();
        fetch_event("progress", u->label,
                    json_pack("{s:I, s:I}", "bytes", (json_int_t)bytes, "total", (json_int_t)u->bar.total));
    }
    u->last_bytes = bytes;
}

void fetch_fail(struct fetch_tally *t, const char *label, const struct ferry_error *err)
{
    if (g_opts.json)
        fetch_event("error", label, json_pack("{s:s, s:i}", "message", err->cause, "exit", -err->code));
    int code = report_error(err);
    if (t->worst == 0 || code == 75) t->worst = code;
    t->failed++;
}

int fetch_one(const char *url, const char *dir, const char *name, const char *label,
              struct ferry_fetch_opts *o, struct fetch_tally *t)
{
    struct fetch_ui ui = {.label = label, .t = t};
    o->progress = on_bytes, o->progress_total = on_total, o->progress_ctx = &ui;
    if (g_opts.json) fetch_event("start", label, NULL);
    struct ferry_fetch_result r;
    struct ferry_error err;
    ferry_error_clear(&err);
    int rc = ferry_fetch_url(url, dir, name, o, &r, &err);
    if (!g_opts.json && ui.bar.total) progress_end(&ui.bar);
    o->progress = NULL, o->progress_total = NULL, o->progress_ctx = NULL;
    if (rc) {
        fetch_fail(t, label, &err);
        return -rc;
    }
    char hex[65];
    ferry_hex(r.sha256, 32, hex);
    t->ok++;
    t->bytes += r.size, t->downloaded += r.downloaded;
    static const char *by[] = {"size only", "expected SHA-256", "X-Linked-Etag", "git blob SHA-1"};
    if (g_opts.json)
        fetch_event("done", label,
                    json_pack("{s:I, s:s, s:s, s:b, s:I, s:i, s:b, s:b}", "size", (json_int_t)r.size, "sha256", hex,
                              "verified_by", by[r.verified_by], "btv2_checked", r.btv2_checked, "downloaded",
                              (json_int_t)r.downloaded, "retries", r.retries, "resumed", r.resumed, "single_stream",
                              r.single_stream));
    else
        notef("%s: %llu bytes, sha256 %s (checked against %s%s)%s%s", label, (unsigned long long)r.size, hex,
              by[r.verified_by], r.btv2_checked ? " and the BEP 52 root" : "", r.resumed ? ", resumed" : "",
              r.single_stream ? ", server ignored Range: one stream" : "");
    return 0;
}

void fetch_total_begin(struct fetch_tally *t, const char *label, uint64_t bytes)
{
    if (t->has_total) progress_end(&t->total);
    progress_start(&t->total, label, bytes);
    t->has_total = 1;
}

void fetch_total_skip(struct fetch_tally *t, uint64_t bytes)
{
    if (t->has_total) progress_skip(&t->total, bytes);
}

int fetch_summary(struct fetch_tally *t)
{
    if (t->has_total) {
        progress_end(&t->total);
        t->has_total = 0;
    }
    if (g_opts.json)
        fetch_event("summary", NULL,
                    json_pack("{s:i, s:i, s:i, s:I, s:I, s:f}", "files", t->ok, "failed", t->failed, "skipped",
                              t->skipped, "bytes", (json_int_t)t->bytes, "downloaded", (json_int_t)t->downloaded,
                              "seconds", now_seconds() - t->start));
    return t->worst;
}
