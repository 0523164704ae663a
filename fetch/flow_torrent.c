/* ferry_fetch_torrent (see ferry/torrent_fetch.h): a magnet or .torrent through libtorrent into a
 * staging folder, checked against a signed manifest when given, then linked to final names. */
#define _GNU_SOURCE
#include "bt_engine.h"
#include "flow.h"
#include "ferry/codec.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/torrent.h"
#include "ferry/torrent_check.h"
#include "ferry/torrent_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tfile {
    char staged[8192], final[8192];
    const char *rel; /* below the torrent's top folder */
    uint64_t size;
    int pad, want, placed;
    const struct ferry_resource *res; /* with a manifest */
};

struct run {
    const char *source, *dir;
    const struct ferry_fetch_torrent_opts *to;
    const struct ferry_fetch_opts *o;
    const struct ferry_fetch_events *ev;
    struct ferry_fetch_tally *t;
    struct bt_session *s;
    int id;
    char stage[4096], resume[4200], label[512];
    struct ferry_manifest m;
    int has_m;
    struct tfile *f;
    int nf;
    int metadata, finished, failed;
    struct ferry_error err;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct run *r, const char *fmt, ...)
{
    if (!r->ev || !r->ev->note) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    r->ev->note(r->ev->ctx, text, 0);
}

static void on_event(void *ctx, const struct bt_event *e)
{
    struct run *r = ctx;
    switch (e->kind) {
    case BT_EV_METADATA: r->metadata = 1; break;
    case BT_EV_FINISHED: r->finished = 1; break;
    case BT_EV_HASH_FAILED:
        note(r, "%s: piece %lld failed its hash check and is fetched again", r->label,
             (long long)e->index);
        break;
    case BT_EV_PEER_BANNED: note(r, "%s: %s", r->label, e->text); break;
    case BT_EV_WEB_SEED: note(r, "%s: web seed: %s", r->label, e->text); break;
    case BT_EV_ERROR:
        ferry_error_set(&r->err, FERRY_EIO, r->label, FERRY_NO_OFFSET, NULL, "%s", e->text);
        r->failed = 1;
        break;
    default: break;
    }
}

/* Checks the torrent's files against the manifest: same paths, lengths and (v2) roots. */
static int check_against_manifest(struct run *r, const struct ferry_torrent_info *ti)
{
    struct ferry_check_report rep;
    int rc = ferry_torrent_check_info(ti, &r->m, 0, &rep, &r->err);
    if (!rc && (rep.nmismatched || rep.nextra))
        rc = ferry_error_set(&r->err, FERRY_EMISMATCH, r->label, FERRY_NO_OFFSET, NULL, "%s: %s",
                             rep.nmismatched ? rep.mismatched[0] : rep.extra[0],
                             rep.nmismatched
                                 ? "the torrent differs from the signed manifest"
                                 : "the torrent holds a file the signed manifest does not list");
    ferry_check_report_free(&rep);
    if (rc) return rc;
    size_t rooted = 0;
    for (size_t i = 0; i < r->m.nres; i++) rooted += r->m.res[i].has_btv2 != 0;
    note(r,
         ti->v2 && rooted ? "%s: every file's BEP 52 root matches the signed manifest"
                          : "%s: no per-file roots to compare before the download (a v1 torrent, "
                            "or a manifest without BEP 52 roots); files are checked against the "
                            "manifest's SHA-256 as they finish",
         r->label);
    return 0;
}

/* The file table from libtorrent, and which files are wanted. */
static int load_files(struct run *r)
{
    int n = bt_num_files(r->s, r->id);
    if (n <= 0)
        return ferry_error_set(&r->err, FERRY_EMALFORMED, r->label, FERRY_NO_OFFSET, NULL,
                               "no files");
    r->f = calloc((size_t)n, sizeof(*r->f));
    if (!r->f)
        return ferry_error_set(&r->err, FERRY_EINTERNAL, r->label, FERRY_NO_OFFSET, NULL, "oom");
    r->nf = n;
    for (int i = 0; i < n; i++) {
        struct tfile *f = &r->f[i];
        char path[4096];
        if (bt_file_info(r->s, r->id, i, path, sizeof(path), &f->size, &f->pad))
            return ferry_error_set(&r->err, FERRY_EINTERNAL, r->label, FERRY_NO_OFFSET, NULL,
                                   "file table");
        snprintf(f->staged, sizeof(f->staged), "%s/%s", r->stage, path);
        /* final: the path below the top folder (a single file keeps its name) */
        const char *slash = strchr(path, '/');
        const char *rel = slash ? slash + 1 : path;
        snprintf(f->final, sizeof(f->final), "%s/%s", r->dir, rel);
        f->rel = f->final + strlen(r->dir) + 1;
        f->want = !f->pad;
        /* the manifest and its signatures travel along; the verified copies are in dir */
        for (size_t g = 0; r->has_m && f->want && g < r->m.nignore; g++)
            if (!strcmp(r->m.ignore_paths[g], f->rel)) f->want = 0;
        for (size_t j = 0; r->has_m && j < r->m.nres; j++)
            if (!strcmp(r->m.res[j].name, f->rel)) f->res = &r->m.res[j];
    }
    return 0;
}

static void set_priorities(struct run *r, int licenses_only)
{
    uint8_t *p = calloc((size_t)r->nf, 1);
    if (!p) return;
    for (int i = 0; i < r->nf; i++) {
        const struct tfile *f = &r->f[i];
        int lic = f->res && f->res->role[0];
        p[i] = (uint8_t)(f->want && !f->placed && (!licenses_only || lic) ? 4 : 0);
    }
    bt_set_priorities(r->s, r->id, p, (size_t)r->nf);
    free(p);
}

/* 1 when f's final name already holds what the torrent describes: its size, and the BEP 52
 * pieces root a v2 or hybrid torrent gives it (an empty file has none). A run that finished
 * or was stopped after placing it left it; a v1 torrent cannot tell per file. */
static int matches_root(const struct ferry_torrent_info *ti, const struct tfile *f)
{
    const struct ferry_torrent_file *tf = NULL;
    for (size_t k = 0; k < ti->nfiles && !tf; k++)
        if (!ti->files[k].pad && !strcmp(ti->files[k].path, f->rel)) tf = &ti->files[k];
    if (!tf || tf->size != f->size || (f->size && !tf->has_root)) return 0;
    struct ferry_error ig;
    ferry_error_clear(&ig);
    int fd = ferry_open_regular(f->final, 1, &ig);
    if (fd < 0) return 0;
    struct stat st;
    uint8_t root[32];
    int has = 0, ok = !fstat(fd, &st) && (uint64_t)st.st_size == f->size;
    if (ok && f->size)
        ok = !ferry_btv2_root_fd(fd, f->size, f->final, root, &has, &ig) && has &&
             !memcmp(root, tf->root, 32);
    close(fd);
    return ok;
}

/* 1 when both names are one file (the same inode) */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A finished file: checked against the manifest, then given its final name (a hard link, so
 * the engine's copy stays valid while it may still serve it). */
static int place(struct run *r, struct tfile *f)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_fetch_result res = {.size = f->size, .verified_by = 4};
    if (f->res) {
        if (ferry_fetch_check_file(f->staged, f->res->size, f->res->sha256, NULL, &err)) {
            flow_fail(r->ev, r->t, f->rel, &err);
            return -1;
        }
        memcpy(res.sha256, f->res->sha256, 32);
        res.verified_by = 1, res.btv2_checked = f->res->has_btv2;
    } else if (f->size == 0) {
        int fd = open(f->staged, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
    }
    char fdir[8192], name[256];
    if (flow_place(r->dir, f->rel, fdir, sizeof(fdir), name, sizeof(name), &err)) {
        flow_fail(r->ev, r->t, f->rel, &err);
        return -1;
    }
    char tmp[8500];
    snprintf(tmp, sizeof(tmp), "%s/.%s.ferry-link", fdir, name);
    unlink(tmp);
    if (access(f->final, F_OK) == 0 && !r->o->force) {
        ferry_error_set(&err, FERRY_ECANTCREAT, f->final, FERRY_NO_OFFSET, NULL,
                        "exists (use --force to replace it)");
        flow_fail(r->ev, r->t, f->rel, &err);
        return -1;
    }
    if (link(f->staged, tmp) || rename(tmp, f->final)) {
        ferry_error_set(&err, FERRY_ECANTCREAT, f->final, FERRY_NO_OFFSET, NULL, "%s",
                        strerror(errno));
        unlink(tmp);
        flow_fail(r->ev, r->t, f->rel, &err);
        return -1;
    }
    f->placed = 1;
    r->t->ok++;
    r->t->bytes += f->size;
    if (r->ev && r->ev->done) r->ev->done(r->ev->ctx, f->rel, &res);
    return 0;
}

static int selected(const struct tfile *f, int licenses_only)
{
    return f->want && !f->placed && (!licenses_only || (f->res && f->res->role[0]));
}

/* Runs the swarm until the selected files are complete on disk (1), or the run is cancelled,
 * stalls or fails (0, r->err set). */
static int wait_done(struct run *r, int licenses_only, uint64_t *last_done, double *last_change)
{
    unsigned stall = r->to->stall_seconds ? r->to->stall_seconds : 300;
    uint64_t *have = calloc((size_t)r->nf + 1, sizeof(uint64_t));
    int ok = 0;
    while (have && !flow_cancelled(r->o)) {
        bt_poll(r->s, 200, on_event, r);
        if (r->failed) goto out;
        struct bt_stat st;
        if (bt_status(r->s, r->id, &st)) break;
        if (st.error[0]) {
            ferry_error_set(&r->err, FERRY_EIO, r->label, FERRY_NO_OFFSET, NULL, "%s", st.error);
            goto out;
        }
        if (r->ev && r->ev->progress) r->ev->progress(r->ev->ctx, r->label, st.done);
        if (st.done != *last_done || st.checking) *last_done = st.done, *last_change = now();
        int complete = !st.checking && !bt_file_progress(r->s, r->id, have, (size_t)r->nf);
        for (int i = 0; complete && i < r->nf; i++)
            if (selected(&r->f[i], licenses_only) && have[i] < r->f[i].size) complete = 0;
        if (complete) {
            ok = 1;
            goto out;
        }
        if (now() - *last_change > stall) {
            ferry_error_set(&r->err, FERRY_EUNAVAIL, r->label, FERRY_NO_OFFSET, NULL,
                            "no peer or web seed sent data for %u s (%d peers connected)", stall,
                            st.peers);
            goto out;
        }
    }
    if (have)
        ferry_error_set(&r->err, FERRY_EINTR, r->label, FERRY_NO_OFFSET, NULL,
                        "interrupted; run the same command again to resume");
    else
        ferry_error_set(&r->err, FERRY_EINTERNAL, r->label, FERRY_NO_OFFSET, NULL, "oom");
out:
    free(have);
    return ok;
}

/* Removes the staging folder's files and folders (deepest first). */
static void remove_stage(struct run *r)
{
    for (int i = 0; i < r->nf; i++) unlink(r->f[i].staged);
    for (int i = r->nf - 1; i >= 0; i--) {
        char d[8192];
        snprintf(d, sizeof(d), "%s", r->f[i].staged);
        for (char *s = strrchr(d, '/'); s && s > d + strlen(r->stage); s = strrchr(d, '/')) {
            *s = 0;
            rmdir(d);
        }
    }
    rmdir(r->stage);
    unlink(r->resume);
}

static int hex_of_source(const char *source, char *hex, struct ferry_magnet *mg,
                         struct ferry_torrent_info *ti, struct ferry_error *err)
{
    if (!strncmp(source, "magnet:", 7)) { /* the staging folder is named by the link's hash */
        int rc = ferry_magnet_parse(source, mg, err);
        if (!rc) snprintf(hex, 41, "%.40s", mg->id);
        return rc;
    }
    int rc = ferry_torrent_load(source, ti, err);
    if (rc) return rc;
    if (!ti->v2)
        ferry_hex(ti->btih, 20, hex);
    else { /* as a magnet names it: the v2 hash first */
        char h[65];
        ferry_hex(ti->btmh, 32, h);
        snprintf(hex, 41, "%.40s", h);
    }
    return 0;
}

int ferry_fetch_torrent(const char *source, const char *dir_in,
                        const struct ferry_fetch_torrent_opts *to, const struct ferry_fetch_opts *o,
                        const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t)
{
    struct run r = {.source = source, .to = to, .o = o, .ev = ev, .t = t, .id = -1};
    ferry_error_clear(&r.err);
    struct ferry_torrent_info ti = {0};
    struct ferry_magnet mg;
    char hex[65] = "", dirbuf[4096];
    uint8_t *tbytes = NULL, *resume = NULL;
    size_t tlen = 0, rlen = 0;
    int is_magnet = !strncmp(source, "magnet:", 7);
    snprintf(r.label, sizeof(r.label), "%s", source);
    if (hex_of_source(source, hex, &mg, &ti, &r.err)) goto fail;
    if (!is_magnet) {
        snprintf(r.label, sizeof(r.label), "%s", ti.name);
        if (ferry_read_file(source, FERRY_TORRENT_HARD_BYTES, &tbytes, &tlen, &r.err)) goto fail;
    }
    if (!dir_in) { /* the torrent's name, a magnet's dn, else the hash */
        const char *dn = is_magnet ? (mg.name[0] ? mg.name : NULL) : ti.name;
        snprintf(dirbuf, sizeof(dirbuf), "%s", dn ? dn : hex);
        dir_in = dirbuf;
    }
    r.dir = dir_in;
    if (flow_dir(r.dir, ev, t)) goto out;
    snprintf(r.stage, sizeof(r.stage), "%s/.ferry-bt-%s", r.dir, hex);
    snprintf(r.resume, sizeof(r.resume), "%s.resume", r.stage);
    if (to->manifest) {
        if (flow_manifest_load(r.dir, to->manifest, o, ev, t, &r.m)) goto out;
        r.has_m = 1;
        if (!is_magnet && check_against_manifest(&r, &ti)) goto fail;
    }
    if (ferry_mkdirs(r.stage, 0755)) {
        ferry_error_set(&r.err, FERRY_ECANTCREAT, r.stage, FERRY_NO_OFFSET, NULL, "%s",
                        strerror(errno));
        goto fail;
    }
    /* resume data from a clean stop is used once: a run killed after it must check the
     * files instead of trusting a stale record */
    {
        struct ferry_error ig;
        ferry_error_clear(&ig);
        if (access(r.resume, F_OK) == 0 &&
            !ferry_read_file(r.resume, 1u << 30, &resume, &rlen, &ig))
            unlink(r.resume);
    }
    const char *listen_default = "0.0.0.0:0,[::]:0";
    if (bt_session_new(&to->net, listen_default, &r.s, &r.err)) goto fail;
    struct bt_add_opts ba = {.torrent = tbytes,
                             .torrent_len = tlen,
                             .magnet = is_magnet ? source : NULL,
                             .resume = resume,
                             .resume_len = rlen,
                             .save_path = r.stage,
                             .dont_download = 1,
                             .peers = to->peers,
                             .npeers = to->npeers};
    if (bt_add(r.s, &ba, &r.id, &r.err)) goto fail;
    if (ev && ev->start) ev->start(ev->ctx, r.label);
    /* metadata: from the .torrent at once, from peers for a magnet */
    double last_change = now();
    uint64_t last_done = 0;
    unsigned stall = to->stall_seconds ? to->stall_seconds : 300;
    while (!r.metadata && !flow_cancelled(o)) {
        struct bt_stat st;
        if (!bt_status(r.s, r.id, &st) && st.has_metadata) break;
        bt_poll(r.s, 200, on_event, &r);
        if (now() - last_change > stall) {
            ferry_error_set(&r.err, FERRY_EUNAVAIL, r.label, FERRY_NO_OFFSET, NULL,
                            "no peer sent the torrent's metadata in %u s", stall);
            goto fail;
        }
    }
    if (flow_cancelled(o)) {
        ferry_error_set(&r.err, FERRY_EINTR, r.label, FERRY_NO_OFFSET, NULL, "interrupted");
        goto fail;
    }
    if (is_magnet) {
        uint8_t *info = NULL;
        size_t ilen = 0;
        if (bt_info_section(r.s, r.id, &info, &ilen) ||
            ferry_torrent_parse_metadata(info, ilen, source, &ti, &r.err)) {
            free(info);
            if (!r.err.code)
                ferry_error_set(&r.err, FERRY_EMALFORMED, source, FERRY_NO_OFFSET, NULL,
                                "unreadable metadata");
            goto fail;
        }
        free(info);
        snprintf(r.label, sizeof(r.label), "%s", ti.name);
        if (r.has_m && check_against_manifest(&r, &ti)) goto fail;
    }
    if (load_files(&r)) goto fail;
    uint64_t total = 0, nwant = 0;
    for (int i = 0; i < r.nf; i++) {
        struct tfile *f = &r.f[i];
        if (!f->want) continue;
        if (r.has_m && f->res && access(f->final, F_OK) == 0 &&
            !ferry_fetch_check_file(f->final, f->res->size, f->res->sha256, NULL, &r.err)) {
            f->placed = 1;
            flow_skip(ev, t, f->rel, f->size, "present and verified");
            continue;
        }
        if (matches_root(&ti, f)) {
            f->placed = 1;
            flow_skip(ev, t, f->rel, f->size, "present and verified against the torrent");
            continue;
        }
        if (same_file(f->final, f->staged)) { /* placed by a run that was stopped: the final
                                               * name is a link to the staged copy, which was
                                               * complete and piece-checked when it was made */
            f->placed = 1;
            flow_skip(ev, t, f->rel, f->size, "placed by an earlier run");
            continue;
        }
        ferry_error_clear(&r.err);
        total += f->size, nwant++;
    }
    if (ev && ev->plan) ev->plan(ev->ctx, source, nwant, total);
    if (ev && ev->size) ev->size(ev->ctx, r.label, total);
    struct bt_stat st0; /* what an earlier run left, checked: reported before any transfer */
    if (ev && ev->progress && !bt_status(r.s, r.id, &st0)) ev->progress(ev->ctx, r.label, st0.done);
    /* license texts first; the rest waits for an acceptance */
    int need_gate = 0;
    for (int i = 0; r.has_m && i < r.nf; i++) need_gate |= r.f[i].res && r.f[i].res->role[0];
    if (need_gate) {
        set_priorities(&r, 1);
        if (!wait_done(&r, 1, &last_done, &last_change)) goto fail;
        for (int i = 0; i < r.nf; i++)
            if (r.f[i].want && !r.f[i].placed && r.f[i].res && r.f[i].res->role[0] &&
                place(&r, &r.f[i]))
                goto out;
        if (flow_license_gate(r.dir, &r.m, to->manifest, ev, &r.err)) goto fail;
    }
    set_priorities(&r, 0);
    if (!wait_done(&r, 0, &last_done, &last_change)) goto fail;
    for (int i = 0; i < r.nf; i++)
        if (r.f[i].want && !r.f[i].placed && place(&r, &r.f[i])) goto out;
    struct bt_stat fin;
    if (!bt_status(r.s, r.id, &fin)) t->downloaded += fin.downloaded;
    bt_remove(r.s, r.id);
    r.id = -1;
    remove_stage(&r);
    goto out;
fail:
    rmdir(r.stage); /* only when empty: nothing arrived that a rerun could use */
    flow_fail(ev, t, r.label, &r.err);
out:
    if (r.s && r.id >= 0) {
        struct bt_stat st;
        if (!bt_status(r.s, r.id, &st)) t->downloaded += st.downloaded;
        /* a clean stop keeps resume data for the next run */
        struct ferry_error ig;
        ferry_error_clear(&ig);
        if (st.has_metadata) bt_save_resume_file(r.s, r.id, r.resume, 5000, &ig);
    }
    bt_session_free(r.s);
    free(r.f);
    free(tbytes);
    free(resume);
    if (r.has_m) ferry_manifest_free(&r.m);
    ferry_torrent_info_free(&ti);
    return t->code;
}
