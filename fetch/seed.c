/* ferry_seed (see ferry/torrent_fetch.h): many torrents in one libtorrent session, none queued.
 * A model directory's torrent is made once and kept in the state folder with a stamp of its
 * files (names, sizes, modification times); resume data saved at a clean stop lets the next
 * run start seeding without hashing. */
#define _GNU_SOURCE
#include "bt_engine.h"
#include "ferry/codec.h"
#include "ferry/file.h"
#include "ferry/manifest.h"
#include "ferry/torrent.h"
#include "ferry/torrent_fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct seeded {
    const char *path;
    char name[256], key[65], resume[4300];
    int id;
    uint64_t bytes;
};

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    struct ferry_error ig;
    ferry_error_clear(&ig);
    return ferry_read_file(path, 1u << 30, buf, len, &ig);
}

/* "name size mtime" of every file a torrent of path would hold. */
static char *stamp_of(const char *path, struct ferry_error *err)
{
    struct ferry_manifest m;
    if (ferry_manifest_list_all(path, &m, err)) return NULL;
    struct stat st;
    int single = stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    for (size_t i = 0; f && i < m.nres; i++) {
        char full[8192];
        snprintf(full, sizeof(full), single ? "%s" : "%s/%s", path, m.res[i].name);
        if (lstat(full, &st)) continue;
        fprintf(f, "%s %" PRIu64 " %lld.%09ld\n", m.res[i].name, m.res[i].size,
                (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    }
    ferry_manifest_free(&m);
    if (!f || fclose(f)) {
        free(s);
        ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
        return NULL;
    }
    return s;
}

static void default_state(char *buf, size_t n)
{
    const char *x = getenv("XDG_STATE_HOME"), *h = getenv("HOME");
    if (x && *x)
        snprintf(buf, n, "%s/ferry/seed", x);
    else
        snprintf(buf, n, "%s/.local/state/ferry/seed", h && *h ? h : ".");
}

/* Adds one path: its torrent (made or reused), save path and resume data. */
static int add_one(struct bt_session *s, const char *state, const char *path,
                   const struct ferry_seed_opts *so, const struct ferry_seed_events *ev,
                   struct seeded *sd, struct ferry_error *err)
{
    uint8_t *tor = NULL, *resume = NULL;
    size_t tlen = 0, rlen = 0;
    char save[PATH_MAX], real[PATH_MAX];
    int made = 0, rc = 0, seed_mode = 0;
    size_t pl = strlen(path);
    struct ferry_torrent_info ti = {0};
    if (pl > 8 && !strcmp(path + pl - 8, ".torrent")) {
        if (read_all(path, &tor, &tlen))
            return ferry_error_set(err, FERRY_ENOINPUT, path, FERRY_NO_OFFSET, NULL, "cannot read");
        if (so->data_dir)
            snprintf(save, sizeof(save), "%s", so->data_dir);
        else {
            snprintf(save, sizeof(save), "%s", path);
            char *sl = strrchr(save, '/');
            if (sl)
                *sl = 0;
            else
                snprintf(save, sizeof(save), ".");
        }
        uint8_t md[32];
        SHA256(tor, tlen, md);
        ferry_hex(md, 32, sd->key);
    } else {
        if (!realpath(path, real))
            return ferry_error_set(err, ferry_errno_code(errno), path, FERRY_NO_OFFSET, NULL, "%s",
                                   strerror(errno));
        uint8_t md[32];
        SHA256((const uint8_t *)real, strlen(real), md);
        ferry_hex(md, 32, sd->key);
        snprintf(save, sizeof(save), "%s", real);
        char *sl = strrchr(save, '/');
        if (sl == save)
            sl[1] = 0;
        else if (sl)
            *sl = 0;
        char tpath[4300], spath[4300];
        snprintf(tpath, sizeof(tpath), "%s/%s.torrent", state, sd->key);
        snprintf(spath, sizeof(spath), "%s/%s.stamp", state, sd->key);
        char *stamp = stamp_of(real, err);
        if (!stamp) return err->code;
        uint8_t *old = NULL;
        size_t olen = 0;
        int same = !read_all(spath, &old, &olen) && olen == strlen(stamp) &&
                   !memcmp(old, stamp, olen) && !read_all(tpath, &tor, &tlen);
        free(old);
        if (!same) {
            free(tor), tor = NULL;
            struct ferry_torrent_opts to = {.kind = FERRY_TORRENT_HYBRID};
            struct ferry_bbuf b;
            struct ferry_torrent_plan plan;
            rc = ferry_torrent_create(real, &to, &b, &plan, err);
            if (!rc) rc = ferry_write_file(tpath, b.p, b.len, 1, err);
            if (!rc) rc = ferry_write_file(spath, stamp, strlen(stamp), 1, err);
            if (!rc)
                tor = b.p, tlen = b.len, made = 1, seed_mode = 1;
            else
                ferry_bbuf_free(&b);
            char rp[4300];
            snprintf(rp, sizeof(rp), "%s/%s.resume", state, sd->key);
            unlink(rp); /* resume data of other files is worthless */
        }
        free(stamp);
        if (rc) return rc;
    }
    snprintf(sd->resume, sizeof(sd->resume), "%s/%s.resume", state, sd->key);
    if (access(sd->resume, F_OK) == 0) read_all(sd->resume, &resume, &rlen);
    rc = ferry_torrent_parse(tor, tlen, path, &ti, err);
    if (!rc) {
        snprintf(sd->name, sizeof(sd->name), "%s", ti.name);
        for (size_t i = 0; i < ti.nfiles; i++) sd->bytes += ti.files[i].pad ? 0 : ti.files[i].size;
        struct bt_add_opts ba = {.torrent = tor,
                                 .torrent_len = tlen,
                                 .resume = resume,
                                 .resume_len = rlen,
                                 .save_path = save,
                                 .seed_mode = seed_mode && !resume};
        rc = bt_add(s, &ba, &sd->id, err);
    }
    if (!rc && ev && ev->added) {
        char *mag = ferry_torrent_magnet(&ti);
        ev->added(ev->ctx, path, mag ? mag : "", made);
        free(mag);
    }
    ferry_torrent_info_free(&ti);
    free(tor);
    free(resume);
    return rc;
}

int ferry_seed(const char *const *paths, size_t n, const struct ferry_seed_opts *so,
               const struct ferry_seed_events *ev, struct ferry_error *err)
{
    char state[4096];
    if (so->state_dir)
        snprintf(state, sizeof(state), "%s", so->state_dir);
    else
        default_state(state, sizeof(state));
    if (ferry_mkdirs(state, 0700))
        return ferry_error_set(err, FERRY_ECANTCREAT, state, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    const char *listen_default = "0.0.0.0:6881,[::]:6881";
    struct bt_session *s = NULL;
    int rc = bt_session_new(&so->net, listen_default, &s, err);
    if (rc) return rc;
    int port = bt_listen_port(s);
    if (!port) {
        bt_session_free(s);
        return ferry_error_set(err, FERRY_EUNAVAIL,
                               (so->net.listen ? so->net.listen : listen_default), FERRY_NO_OFFSET,
                               NULL, "cannot listen there");
    }
    if (ev && ev->listening) ev->listening(ev->ctx, port);
    struct seeded *sd = calloc(n + 1, sizeof(*sd));
    struct ferry_seed_row *rows = calloc(n + 1, sizeof(*rows));
    struct bt_stat *st = calloc(n + 1, sizeof(*st));
    size_t ok = 0;
    for (size_t i = 0; sd && rows && st && i < n && !(so->cancel && *so->cancel); i++) {
        struct ferry_error e;
        ferry_error_clear(&e);
        sd[i].path = paths[i], sd[i].id = -1;
        if (add_one(s, state, paths[i], so, ev, &sd[i], &e)) {
            if (ev && ev->error) ev->error(ev->ctx, paths[i], &e);
            if (!rc) *err = e, rc = e.code;
            sd[i].id = -1;
        } else
            ok++;
    }
    if (!sd || !rows || !st)
        rc = ferry_error_set(err, FERRY_EINTERNAL, "seed", FERRY_NO_OFFSET, NULL, "oom");
    if (ok) rc = 0;
    unsigned every = so->report_ms ? so->report_ms : 1000;
    struct timespec last = {0};
    while (ok && !(so->cancel && *so->cancel)) {
        bt_poll(s, 200, NULL, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double ms =
            (double)(now.tv_sec - last.tv_sec) * 1e3 + (double)(now.tv_nsec - last.tv_nsec) / 1e6;
        if (ms < every) continue;
        last = now;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (sd[i].id < 0 || bt_status(s, sd[i].id, &st[i])) continue;
            rows[k++] = (struct ferry_seed_row){sd[i].name,     sd[i].path,        sd[i].bytes,
                                                st[i].uploaded, st[i].upload_rate, st[i].peers,
                                                st[i].seeding,  st[i].error};
        }
        if (ev && ev->status) ev->status(ev->ctx, rows, k);
    }
    /* a clean stop: resume data for every torrent, so the next start does not hash */
    for (size_t i = 0; ok && i < n; i++) {
        struct ferry_error ig;
        ferry_error_clear(&ig);
        if (sd[i].id >= 0) bt_save_resume_file(s, sd[i].id, sd[i].resume, 5000, &ig);
    }
    bt_session_free(s);
    free(sd), free(rows), free(st);
    return rc;
}
