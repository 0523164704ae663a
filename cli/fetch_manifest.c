/* `ferry fetch --manifest URL_OR_PATH --pubkey K --mirror URL... -o DIR`: the signed manifest is
 * brought into DIR and verified first; then license texts the manifest marks as requiring
 * acceptance are fetched, and nothing else until an acceptance is recorded; then every
 * resource is fetched from the first mirror that serves the right bytes. A mirror that fails
 * or serves other bytes is named and skipped. */
#include "fetch_manifest.h"
#include "commands.h"
#include "output.h"
#include "verify_common.h"
#include "ferry/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_url(const char *s)
{
    return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

static int copy_file(const char *from, const char *to, struct ferry_error *err)
{
    struct ferry_map m;
    int rc = ferry_map_open(&m, from, err);
    if (rc) return rc;
    struct ferry_out o;
    if (!(rc = ferry_out_open(&o, to, 1, err))) {
        if (!(rc = ferry_out_write(&o, m.data, m.size, err))) rc = ferry_out_commit(&o, err);
        else ferry_out_abort(&o);
    }
    ferry_map_close(&m);
    return rc;
}

/* Brings one signature file into dir: downloaded (URL) or copied (path). 0, or -1 when absent. */
static int bring(const char *src, const char *dir, const char *name, struct ferry_fetch_opts *o,
                 struct fetch_tally *t, int optional)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    char dst[4096];
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    if (is_url(src)) {
        struct ferry_fetch_opts so = *o;
        struct ferry_fetch_result r;
        so.force = 1, so.sha256 = NULL, so.git_sha1 = NULL, so.progress = NULL, so.progress_total = NULL;
        int rc = ferry_fetch_url(src, dir, name, &so, &r, &err);
        if (rc && optional && rc == FERRY_ENOINPUT) return -1;
        if (rc) fetch_fail(t, src, &err);
        return rc ? -1 : 0;
    }
    if (access(src, F_OK) != 0 && optional) return -1;
    if (copy_file(src, dst, &err)) {
        fetch_fail(t, src, &err);
        return -1;
    }
    return 0;
}

/* URL of name on a mirror: base + "/" + the percent-encoded path. */
static void mirror_url(const char *base, const char *name, char *out, size_t n)
{
    char esc[4096];
    ferry_url_escape(name, 1, esc, sizeof(esc));
    size_t bl = strlen(base);
    snprintf(out, n, "%.*s/%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base, esc);
}

/* One resource from the mirrors in order; 0 when a mirror served the signed bytes. */
static int fetch_resource(const struct ferry_resource *res, const char *dir, const struct fetch_manifest_opts *mo,
                          struct ferry_fetch_opts *o, struct fetch_tally *t)
{
    char fdir[4096], final[8192], name[1024];
    const char *slash = strrchr(res->name, '/');
    if (slash) snprintf(fdir, sizeof(fdir), "%s/%.*s", dir, (int)(slash - res->name), res->name);
    else snprintf(fdir, sizeof(fdir), "%s", dir);
    snprintf(name, sizeof(name), "%s", slash ? slash + 1 : res->name);
    snprintf(final, sizeof(final), "%s/%s", fdir, name);
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_mkdirs(fdir, 0755) != 0) {
        ferry_error_set(&err, FERRY_ECANTCREAT, fdir, FERRY_NO_OFFSET, NULL, "mkdir: %s", strerror(errno));
        fetch_fail(t, res->name, &err);
        return -1;
    }
    if (access(final, F_OK) == 0) {
        if (!ferry_fetch_check_file(final, res->size, res->sha256, NULL, &err)) {
            notef("%s: already present and verified", res->name);
            fetch_total_skip(t, res->size);
            if (g_opts.json) fetch_event("skipped", res->name, json_pack("{s:s}", "reason", "present and verified"));
            t->skipped++;
            return 0;
        }
        if (!o->force) {
            ferry_error_clear(&err);
            ferry_error_set(&err, FERRY_ECANTCREAT, final, FERRY_NO_OFFSET, NULL,
                            "exists and differs from the signed manifest (use --force to replace it)");
            fetch_fail(t, res->name, &err);
            return -1;
        }
    }
    struct ferry_fetch_opts fo = *o;
    fo.sha256 = res->sha256;
    fo.btv2_root = res->has_btv2 ? res->btv2 : NULL;
    fo.force = 1;
    const struct fetch_tally before = *t;
    int worst = 0;
    for (int i = 0; i < mo->nmirrors && !g_fetch_cancel; i++) {
        char url[8192];
        mirror_url(mo->mirrors[i], res->name, url, sizeof(url));
        struct fetch_tally quiet = before; /* a mirror's failure counts only if all fail */
        int code = fetch_one(url, fdir, name, res->name, &fo, &quiet);
        if (!code) {
            quiet.worst = before.worst, quiet.failed = before.failed;
            *t = quiet;
            return 0;
        }
        worst = code;
        if (code == 75) break;
        warnf("mirror %s failed for %s (%s); %s", mo->mirrors[i], res->name,
              code == 1 ? "served other bytes than the signed manifest names" : "unavailable",
              i + 1 < mo->nmirrors ? "trying the next mirror" : "no mirror left");
        if (g_opts.json)
            fetch_event("mirror_skipped", res->name,
                        json_pack("{s:s, s:s}", "mirror", mo->mirrors[i], "reason",
                                  code == 1 ? "wrong bytes" : "unavailable"));
    }
    t->failed++;
    if (t->worst == 0 || worst == 75) t->worst = worst ? worst : 75;
    return -1;
}

/* The license gate: 0 when no acceptance is needed or one is recorded (now or before). */
static int license_gate(const char *dir, const struct ferry_manifest *m, const struct fetch_manifest_opts *mo)
{
    int needed = 0;
    for (size_t i = 0; i < m->nres; i++) needed |= m->res[i].requires_acceptance;
    if (!needed) return 0;
    int saved = g_opts.verbosity;
    g_opts.verbosity = -1;
    struct ferry_license_opts lo = {.trust = mo->trust, .ntrust = mo->ntrust};
    int ok = verify_license(dir, m, &lo, NULL) == 0;
    g_opts.verbosity = saved;
    if (ok) return 0;
    char flag[160], *acc[12] = {"license", "accept", (char *)dir, "--pubkey", (char *)mo->pubkey};
    int n = 5;
    if (mo->accept) {
        snprintf(flag, sizeof(flag), "--accept-license=%s", mo->accept);
        acc[n++] = flag;
        if (mo->name) acc[n++] = "--name", acc[n++] = (char *)mo->name;
    } else if (!isatty(0) || !isatty(1)) { /* on a terminal, license accept shows the text and asks */
        errorf("%s: the license must be accepted before the weights are fetched; its text is in %s. Read it "
               "('ferry license show %s'), then rerun with --accept-license=SHA256 --name NAME",
               dir, dir, dir);
        return EXIT_FAIL;
    }
    acc[n] = NULL;
    return cmd_license(n, acc) ? EXIT_FAIL : 0;
}

void fetch_manifest(const char *dir, const struct fetch_manifest_opts *mo, struct ferry_fetch_opts *o,
                    struct fetch_tally *t)
{
    const char *src = mo->manifest, *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    char sig_src[4096];
    int bundle = strstr(base, ".sig") && !strstr(base, ".minisig");
    if (bundle) {
        if (bring(src, dir, "model.sig", o, t, 0)) return;
    } else {
        if (bring(src, dir, "model.manifest.json", o, t, 0)) return;
        snprintf(sig_src, sizeof(sig_src), "%s.minisig", src);
        if (bring(sig_src, dir, "model.manifest.json.minisig", o, t, 0)) return;
    }
    struct ferry_manifest m = {0};
    struct ferry_error err;
    ferry_error_clear(&err);
    const char *cas[1] = {NULL};
    int rc = verify_signature(dir, NULL, mo->pubkey, cas, 0, &m, NULL, &err);
    if (rc <= 0) {
        if (rc == 0) ferry_error_set(&err, FERRY_EMISMATCH, dir, FERRY_NO_OFFSET, NULL, "no signature found");
        fetch_fail(t, src, &err);
        t->worst = EXIT_FAIL;
        return;
    }
    notef("%s: signature verified, %zu files", src, m.nres);
    uint64_t total = 0;
    for (size_t i = 0; i < m.nres; i++) total += m.res[i].size;
    fetch_total_begin(t, "total", total);
    /* license texts first, then the gate, then the rest */
    for (size_t i = 0; i < m.nres && !g_fetch_cancel; i++)
        if (m.res[i].role[0] && fetch_resource(&m.res[i], dir, mo, o, t)) goto out;
    if (license_gate(dir, &m, mo)) {
        t->worst = EXIT_FAIL;
        t->failed++;
        goto out;
    }
    for (size_t i = 0; i < m.nres && !g_fetch_cancel; i++)
        if (!m.res[i].role[0]) fetch_resource(&m.res[i], dir, mo, o, t);
out:
    ferry_manifest_free(&m);
}
