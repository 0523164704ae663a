/* See fetch_render.h. */
#include "fetch_render.h"
#include "commands.h"
#include "license_prompt.h"
#include "output.h"
#include "ferry/hash.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One NDJSON event on stdout (steals extra). */
static void event(const char *type, const char *file, json_t *extra)
{
    json_t *e = json_pack("{s:s}", "event", type);
    if (file) json_object_set_new(e, "file", json_string(file));
    if (extra) json_object_update(e, extra), json_decref(extra);
    out_ndjson(e);
}

/* --jobs: the slot of a file in flight (taken by its start event), or NULL */
static struct fetch_slot *slot_of(struct fetch_view *v, const char *name, int take)
{
    struct fetch_slot *free_slot = NULL;
    for (size_t i = 0; i < sizeof(v->slot) / sizeof(v->slot[0]); i++) {
        if (v->slot[i].used && !strcmp(v->slot[i].name, name)) return &v->slot[i];
        if (!v->slot[i].used && !free_slot) free_slot = &v->slot[i];
    }
    if (!take || !free_slot) return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
    free_slot->used = free_slot->baseline = 1;
    return free_slot;
}

static void release(struct fetch_view *v, const char *name)
{
    struct fetch_slot *s = v->jobs > 1 ? slot_of(v, name, 0) : NULL;
    if (s) s->used = 0;
    if (v->jobs > 1 && v->has_total && !g_opts.json) progress_clear(&v->total);
}

static void end_bar(struct fetch_view *v)
{
    if (v->has_bar && !g_opts.json) progress_end(&v->bar);
    v->has_bar = 0;
}

static void on_plan(void *ctx, const char *source, uint64_t files, uint64_t bytes)
{
    struct fetch_view *v = ctx;
    (void)source, (void)files;
    if (v->has_total) progress_end(&v->total);
    progress_start(&v->total, "total", bytes);
    v->has_total = 1;
}

static void on_note(void *ctx, const char *text, long long expires)
{
    (void)ctx;
    notef("%s", text);
    if (g_opts.json && expires)
        event("link", NULL, json_pack("{s:I}", "expires", (json_int_t)expires));
}

static void on_start(void *ctx, const char *name)
{
    struct fetch_view *v = ctx;
    v->last_bytes = 0;
    if (v->jobs > 1) {
        slot_of(v, name, 1);
        if (!v->has_total) { /* several URLs: no plan, the total grows with each size */
            progress_start(&v->total, "total", 0);
            v->has_total = v->total_grows = 1;
        }
    }
    if (g_opts.json) event("start", name, NULL);
}

static void on_size(void *ctx, const char *name, uint64_t bytes)
{
    struct fetch_view *v = ctx;
    struct fetch_slot *s = v->jobs > 1 ? slot_of(v, name, 0) : NULL;
    if (s) {
        if (v->total_grows) progress_total_cb(&v->total, v->total.total - s->total + bytes);
        s->total = bytes;
        return;
    }
    end_bar(v);
    v->has_bar = 1;
    v->baseline = 1;
    if (!g_opts.json) {
        progress_start(&v->bar, name, bytes);
        if (v->has_total) v->bar.parent = &v->total;
    } else {
        v->bar.total = bytes;
    }
}

/* --jobs: a file's bytes counted into the total bar, an earlier run's bytes as skipped */
static void progress_jobs(struct fetch_view *v, struct fetch_slot *s, const char *name,
                          uint64_t bytes)
{
    if (bytes < s->last) s->last = 0; /* a restarted transfer */
    if (!g_opts.json && s->baseline)
        progress_skip(&v->total, bytes);
    else if (!g_opts.json)
        progress_add(&v->total, bytes - s->last);
    else if (now_seconds() - v->last_event >= 1.0) {
        v->last_event = now_seconds();
        event("progress", name,
              json_pack("{s:I, s:I}", "bytes", (json_int_t)bytes, "total", (json_int_t)s->total));
    }
    s->baseline = 0;
    s->last = bytes;
}

static void on_progress(void *ctx, const char *name, uint64_t bytes)
{
    struct fetch_view *v = ctx;
    struct fetch_slot *s = v->jobs > 1 ? slot_of(v, name, 0) : NULL;
    if (s) {
        progress_jobs(v, s, name, bytes);
        return;
    }
    if (bytes < v->last_bytes) v->last_bytes = 0; /* a restarted transfer */
    if (!g_opts.json && v->baseline) { /* the bytes an earlier run left: not this run's rate */
        if (v->has_bar) progress_skip(&v->bar, bytes);
        v->baseline = 0;
    } else if (!g_opts.json) {
        if (v->has_bar) progress_add(&v->bar, bytes - v->last_bytes);
    } else if (now_seconds() - v->last_event >= 1.0) {
        v->last_event = now_seconds();
        event(
            "progress", name,
            json_pack("{s:I, s:I}", "bytes", (json_int_t)bytes, "total", (json_int_t)v->bar.total));
    }
    v->last_bytes = bytes;
}

static void on_done(void *ctx, const char *name, const struct ferry_fetch_result *r)
{
    struct fetch_view *v = ctx;
    end_bar(v);
    release(v, name);
    char hex[65];
    ferry_hex(r->sha256, 32, hex);
    static const char *by[] = {"size only",      "expected SHA-256",        "X-Linked-Etag",
                               "git blob SHA-1", "BitTorrent piece hashes", "the signed manifest"};
    if (g_opts.json)
        event("done", name,
              json_pack("{s:I, s:s?, s:s, s:b, s:I, s:i, s:b, s:b}", "size", (json_int_t)r->size,
                        "sha256", r->unhashed ? NULL : hex, "verified_by", by[r->verified_by],
                        "btv2_checked", r->btv2_checked, "downloaded", (json_int_t)r->downloaded,
                        "retries", r->retries, "resumed", r->resumed, "single_stream",
                        r->single_stream));
    else if (r->verified_by == 4)
        notef("%s: %llu bytes (checked against the torrent's piece hashes)", name,
              (unsigned long long)r->size);
    else if (r->unhashed)
        notef("%s: %llu bytes", name, (unsigned long long)r->size);
    else
        notef("%s: %llu bytes, sha256 %s (checked against %s%s)%s%s", name,
              (unsigned long long)r->size, hex, by[r->verified_by],
              r->btv2_checked ? " and the BEP 52 root" : "", r->resumed ? ", resumed" : "",
              r->single_stream ? ", server ignored Range: one stream" : "");
}

static void on_skipped(void *ctx, const char *name, uint64_t bytes, const char *reason)
{
    struct fetch_view *v = ctx;
    release(v, name);
    notef("%s: already %s", name, reason);
    if (v->has_total) progress_skip(&v->total, bytes);
    if (g_opts.json) event("skipped", name, json_pack("{s:s}", "reason", reason));
}

static void on_mirror_skipped(void *ctx, const char *name, const char *mirror, int wrong_bytes,
                              int last)
{
    struct fetch_view *v = ctx;
    end_bar(v);
    release(v, name);
    warnf("mirror %s failed for %s (%s); %s", mirror, name,
          wrong_bytes ? "served other bytes than the signed manifest names" : "unavailable",
          last ? "no mirror left" : "trying the next mirror");
    if (g_opts.json)
        event("mirror_skipped", name,
              json_pack("{s:s, s:s}", "mirror", mirror, "reason",
                        wrong_bytes ? "wrong bytes" : "unavailable"));
}

static void on_error(void *ctx, const char *name, const struct ferry_error *err)
{
    struct fetch_view *v = ctx;
    end_bar(v);
    release(v, name);
    if (g_opts.json)
        event("error", name, json_pack("{s:s, s:i}", "message", err->cause, "exit", -err->code));
    report_error(err);
}

/* On a terminal the texts are shown and I ACCEPT asked for, as `ferry license accept` does. */
static int on_license_needed(void *ctx, const char *dir, const struct ferry_manifest *m,
                             const struct ferry_license_report *r)
{
    struct fetch_view *v = ctx;
    (void)r;
    if (!isatty(0) || !isatty(1)) return 1;
    end_bar(v);
    return license_accept_ui(dir, m, NULL, v->who, 0, v->lo) == EXIT_OK ? 0 : 1;
}

struct ferry_fetch_events fetch_view_events(struct fetch_view *v)
{
    v->start = now_seconds();
    return (struct ferry_fetch_events){
        v,       on_plan,    on_note,           on_start, on_size,          on_progress,
        on_done, on_skipped, on_mirror_skipped, on_error, on_license_needed};
}

int fetch_view_finish(struct fetch_view *v)
{
    end_bar(v);
    if (v->has_total) {
        progress_end(&v->total);
        v->has_total = 0;
    }
    const struct ferry_fetch_tally *t = &v->t;
    if (g_opts.json)
        event("summary", NULL,
              json_pack("{s:i, s:i, s:i, s:I, s:I, s:f}", "files", t->ok, "failed", t->failed,
                        "skipped", t->skipped, "bytes", (json_int_t)t->bytes, "downloaded",
                        (json_int_t)t->downloaded, "seconds", now_seconds() - v->start));
    return -t->code;
}
