/* ferry_fetch_manifest (see ferry/fetch_flow.h): the signed manifest first, then the license
 * texts, the license gate, and the weights from the first mirror that serves the signed bytes. */
#include "flow.h"
#include "ferry/file.h"
#include "ferry/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_url(const char *s)
{
    return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* Brings one signature file into dir: downloaded (URL) or copied (path). */
static int bring(const char *src, const char *dir, const char *name,
                 const struct ferry_fetch_opts *o, struct ferry_error *err)
{
    if (is_url(src)) {
        struct ferry_fetch_opts so = *o;
        struct ferry_fetch_result r;
        so.force = 1, so.sha256 = NULL, so.git_sha1 = NULL, so.btv2_root = NULL;
        so.progress = NULL, so.progress_total = NULL;
        return ferry_fetch_url(src, dir, name, &so, &r, err);
    }
    char dst[8192];
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    struct stat a, b; /* the manifest already in the output folder (a rerun there, a seeder's
                       * own folder): nothing to copy, nothing to rewrite under a reader */
    if (stat(src, &a) == 0 && stat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return 0;
    return ferry_copy_file(src, dst, 1, err);
}

/* URL of name on a mirror: base + "/" + the percent-encoded path. */
static int mirror_url(const char *base, const char *name, char *out, size_t n,
                      struct ferry_error *err)
{
    char esc[8192];
    size_t bl = strlen(base);
    if (ferry_url_escape(name, 1, esc, sizeof(esc)) ||
        (size_t)snprintf(out, n, "%.*s/%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base,
                         esc) >= n)
        return ferry_error_set(err, FERRY_EUSAGE, name, FERRY_NO_OFFSET, NULL,
                               "URL on mirror %s too long", base);
    return 0;
}

/* One resource from the mirrors in order; 0 when one served the signed bytes. A mirror that
 * was unavailable (unreachable, refusing, failing every try) is marked in dead and not asked
 * again in this run: a dead mirror would otherwise cost its retries on every file. */
static int fetch_resource(const struct ferry_resource *res, const char *dir,
                          const struct ferry_fetch_manifest_opts *mo,
                          const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                          struct ferry_fetch_tally *t, unsigned char *dead)
{
    char fdir[4096], final[8192], name[1024];
    struct ferry_error err;
    ferry_error_clear(&err);
    if (flow_place(dir, res->name, fdir, sizeof(fdir), name, sizeof(name), &err)) {
        flow_fail(ev, t, res->name, &err);
        return -1;
    }
    snprintf(final, sizeof(final), "%s/%s", fdir, name);
    if (access(final, F_OK) == 0) {
        if (!ferry_fetch_check_file(final, res->size, res->sha256, NULL, &err)) {
            flow_skip(ev, t, res->name, res->size, "present and verified");
            return 0;
        }
        if (!o->force) {
            ferry_error_clear(&err);
            ferry_error_set(
                &err, FERRY_ECANTCREAT, final, FERRY_NO_OFFSET, NULL,
                "exists and differs from the signed manifest (use --force to replace it)");
            flow_fail(ev, t, res->name, &err);
            return -1;
        }
    }
    struct ferry_fetch_opts fo = *o;
    fo.sha256 = res->sha256;
    fo.btv2_root = res->has_btv2 ? res->btv2 : NULL;
    fo.force = 1;
    flow_lock();
    size_t last = mo->nmirrors;
    while (last && dead[last - 1]) last--;
    flow_unlock();
    for (size_t i = 0; i < last && !flow_cancelled(o); i++) {
        flow_lock();
        int gone = dead[i];
        flow_unlock();
        if (gone) continue;
        char url[16384];
        ferry_error_clear(&err);
        int rc = mirror_url(mo->mirrors[i], res->name, url, sizeof(url), &err);
        if (!rc) rc = flow_one(url, fdir, name, res->name, &fo, ev, t, &err);
        if (!rc) return 0;
        flow_lock();
        if (rc == FERRY_EUNAVAIL) dead[i] = 1;
        /* a mirror's failure counts only when every mirror fails */
        if (rc != FERRY_EINTR && i + 1 < last && ev && ev->mirror_skipped)
            ev->mirror_skipped(ev->ctx, res->name, mo->mirrors[i], rc == FERRY_EMISMATCH, 0);
        flow_unlock();
        if (rc == FERRY_EINTR || i + 1 == last) break;
    }
    if (last == 0 && err.code == 0)
        ferry_error_set(&err, FERRY_EUNAVAIL, res->name, FERRY_NO_OFFSET, NULL,
                        "every mirror was unavailable earlier in this run");
    if (err.code == 0)
        ferry_error_set(&err, FERRY_EINTR, res->name, FERRY_NO_OFFSET, NULL, "interrupted");
    flow_lock();
    if (ev && ev->mirror_skipped && err.code != FERRY_EINTR && last)
        ev->mirror_skipped(ev->ctx, res->name, mo->mirrors[last - 1], err.code == FERRY_EMISMATCH,
                           1);
    flow_unlock();
    flow_fail(ev, t, res->name, &err);
    return -1;
}

int flow_license_gate(const char *dir, const struct ferry_manifest *m,
                      const struct ferry_fetch_manifest_opts *mo,
                      const struct ferry_fetch_events *ev, struct ferry_error *err)
{
    struct ferry_license_report r;
    int rc = ferry_license_status(dir, m, &mo->license, &r, err);
    if (rc) return rc;
    if (!r.required || r.accepted) {
        ferry_license_report_free(&r);
        return 0;
    }
    char hex[65] = "";
    if (r.license) ferry_hex(r.license->sha256, 32, hex);
    if (mo->accept && r.license) {
        size_t n = strlen(mo->accept);
        if (n < 16 || n > 64 || strncmp(hex, mo->accept, n))
            rc =
                ferry_error_set(err, FERRY_EMISMATCH, r.license->name, FERRY_NO_OFFSET, NULL,
                                "the license text has sha256 %s; --accept-license=%s names another "
                                "text (read it with 'ferry license show %s')",
                                hex, mo->accept, dir);
        else
            rc = ferry_license_accept(dir, m, &mo->who, "flag:--accept-license", 0, &mo->license,
                                      NULL, err);
    } else if (ev && ev->license_needed && r.license) {
        if (ev->license_needed(ev->ctx, dir, m, &r) != 0)
            rc = ferry_error_set(err, FERRY_EMISMATCH, dir, FERRY_NO_OFFSET, NULL,
                                 "the license was not accepted: the weights were not fetched");
    } else {
        rc = ferry_error_set(err, FERRY_EMISMATCH, dir, FERRY_NO_OFFSET, NULL,
                             "the license must be accepted before the weights are fetched; its "
                             "text is in %s. Read it ('ferry license show %s'), then rerun with "
                             "--accept-license=SHA256 --name NAME",
                             dir, dir);
    }
    ferry_license_report_free(&r);
    return rc;
}

int flow_manifest_load(const char *dir, const struct ferry_fetch_manifest_opts *mo,
                       const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                       struct ferry_fetch_tally *t, struct ferry_manifest *m)
{
    const char *src = mo->manifest, *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    memset(m, 0, sizeof(*m));
    struct ferry_error err;
    ferry_error_clear(&err);
    int rc;
    if (strstr(base, ".sig") && !strstr(base, ".minisig")) {
        rc = bring(src, dir, "model.sig", o, &err);
    } else {
        char sig_src[4096];
        snprintf(sig_src, sizeof(sig_src), "%s.minisig", src);
        rc = bring(src, dir, "model.manifest.json", o, &err);
        if (!rc) rc = bring(sig_src, dir, "model.manifest.json.minisig", o, &err);
    }
    if (rc) {
        flow_fail(ev, t, src, &err);
        return -1;
    }
    struct ferry_signature_report sr;
    struct ferry_signature_opts so = mo->sig;
    so.sigfile = NULL;
    rc = ferry_verify_signature(dir, &so, m, &sr, &err);
    if (rc <= 0) {
        if (rc == 0)
            ferry_error_set(&err, FERRY_EMISMATCH, dir, FERRY_NO_OFFSET, NULL,
                            "no signature found");
        flow_fail(ev, t, src, &err);
        ferry_manifest_free(m);
        return -1;
    }
    if (ev && ev->note) {
        char text[512];
        snprintf(text, sizeof(text), "%s: signature verified (%s%s%s), %zu files", src, sr.method,
                 sr.key_id[0] ? ", key " : "", sr.key_id, m->nres);
        ev->note(ev->ctx, text, 0);
    }
    return 0;
}

struct weights_job {
    const struct ferry_manifest *m;
    const char *dir;
    const struct ferry_fetch_manifest_opts *mo;
    const struct ferry_fetch_opts *o;
    const struct ferry_fetch_events *ev;
    struct ferry_fetch_tally *t;
    unsigned char *dead;
};

static void weights_job(void *ctx, size_t i)
{
    struct weights_job *j = ctx;
    if (!j->m->res[i].role[0]) /* the license texts came first */
        fetch_resource(&j->m->res[i], j->dir, j->mo, j->o, j->ev, j->t, j->dead);
}

int ferry_fetch_manifest(const char *dir, const struct ferry_fetch_manifest_opts *mo,
                         const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                         struct ferry_fetch_tally *t)
{
    const char *src = mo->manifest;
    if (flow_dir(dir, ev, t)) return t->code;
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_manifest m = {0};
    if (flow_manifest_load(dir, mo, o, ev, t, &m)) return t->code;
    uint64_t total = 0;
    for (size_t i = 0; i < m.nres; i++) total += m.res[i].size;
    if (ev && ev->plan) ev->plan(ev->ctx, src, m.nres, total);
    unsigned char *dead = calloc(mo->nmirrors ? mo->nmirrors : 1, 1);
    if (!dead) {
        ferry_error_set(&err, FERRY_EINTERNAL, src, FERRY_NO_OFFSET, NULL, "out of memory");
        flow_fail(ev, t, src, &err);
        goto out;
    }
    /* license texts first, then the gate, then the rest */
    for (size_t i = 0; i < m.nres && !flow_cancelled(o); i++)
        if (m.res[i].role[0] && fetch_resource(&m.res[i], dir, mo, o, ev, t, dead)) goto out;
    ferry_error_clear(&err);
    if (!flow_cancelled(o) && flow_license_gate(dir, &m, mo, ev, &err)) {
        flow_fail(ev, t, src, &err);
        goto out;
    }
    struct weights_job j = {&m, dir, mo, o, ev, t, dead};
    flow_each(o, m.nres, weights_job, &j);
out:
    free(dead);
    if (flow_cancelled(o) && t->code != FERRY_EINTR) {
        ferry_error_clear(&err);
        ferry_error_set(&err, FERRY_EINTR, dir, FERRY_NO_OFFSET, NULL,
                        "interrupted; run the same command again to resume");
        flow_fail(ev, t, src, &err);
    }
    ferry_manifest_free(&m);
    return t->code;
}
