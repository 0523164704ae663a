/* The acceptance record store: looking for a record that counts for a model, and recording a
 * new acceptance (see ferry/verify.h). Records live in DATA/ferry/licenses/ and, when asked, in
 * the model directory as license-acceptance.dsse.json. */
#define _GNU_SOURCE
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/verify.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MODEL_RECORD "license-acceptance.dsse.json"
#define MAX_TRUSTED  64

/* An XDG base directory: the variable when absolute, else HOME/fallback. */
static void xdg(const char *given, const char *var, const char *fallback, char *out, size_t n)
{
    const char *v = getenv(var), *home = getenv("HOME");
    if (given)
        snprintf(out, n, "%s", given);
    else if (v && v[0] == '/')
        snprintf(out, n, "%s", v);
    else
        snprintf(out, n, "%s/%s", home ? home : ".", fallback);
}

static const struct ferry_resource *license_of(const struct ferry_manifest *m, int *required)
{
    const struct ferry_resource *lic = NULL;
    *required = 0;
    for (size_t i = 0; i < m->nres; i++) {
        if (!strcmp(m->res[i].role, "license") && !lic) lic = &m->res[i];
        *required |= m->res[i].requires_acceptance;
    }
    return lic;
}

static int add_found(struct ferry_license_report *r, const char *path,
                     const struct ferry_manifest *m, const struct ferry_minisign_pub *trusted,
                     size_t ntrusted, int from_store)
{
    struct ferry_license_found f;
    memset(&f, 0, sizeof(f));
    snprintf(f.path, sizeof(f.path), "%s", path);
    struct ferry_error e;
    ferry_error_clear(&e);
    f.valid = ferry_license_verify_record(path, &f.a, &e) == 0;
    if (!f.valid) {
        ferry_error_format(&e, f.why_invalid, sizeof(f.why_invalid));
    } else {
        f.verdict = ferry_license_record_counts(&f.a, m, r->license, trusted, ntrusted);
        /* the store holds records for every model the user accepted: others are not news */
        if (from_store && f.verdict == FERRY_LICENSE_OTHER_MODEL) return 0;
        r->accepted |= f.verdict == FERRY_LICENSE_COUNTS;
    }
    struct ferry_license_found *p = realloc(r->found, (r->nfound + 1) * sizeof(*p));
    if (!p) return -1;
    r->found = p;
    r->found[r->nfound++] = f;
    return 0;
}

int ferry_license_status(const char *path, const struct ferry_manifest *m,
                         const struct ferry_license_opts *o, struct ferry_license_report *r,
                         struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    static const struct ferry_license_opts none;
    if (!o) o = &none;
    r->license = license_of(m, &r->required);
    if (!r->required || !r->license) return 0;
    /* trusted signers: the user's own acceptance key, then the keys named */
    struct ferry_minisign_pub trusted[MAX_TRUSTED + 1];
    size_t ntrusted = 0;
    char cfg[4096], data[4096], store[4200], p[8400];
    xdg(o->config_dir, "XDG_CONFIG_HOME", ".config", cfg, sizeof(cfg));
    xdg(o->data_dir, "XDG_DATA_HOME", ".local/share", data, sizeof(data));
    int urc = ferry_license_user_pub(cfg, &trusted[0], err);
    if (urc < 0) return urc;
    if (urc == 0) ntrusted++;
    if (o->ntrust > MAX_TRUSTED)
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                               "more than %d trusted acceptor keys", MAX_TRUSTED);
    for (size_t i = 0; i < o->ntrust; i++) {
        int rc = ferry_minisign_load_pub(o->trust[i], &trusted[ntrusted], err);
        if (rc) return rc;
        ntrusted++;
    }
    snprintf(store, sizeof(store), "%s/ferry/licenses", data);
    int rc = 0;
    DIR *d = opendir(store);
    struct dirent *e;
    while (!rc && d && (e = readdir(d)))
        if (strstr(e->d_name, ".dsse.json")) {
            snprintf(p, sizeof(p), "%s/%s", store, e->d_name);
            rc = add_found(r, p, m, trusted, ntrusted, 1);
        }
    if (d) closedir(d);
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", path, MODEL_RECORD);
    if (!rc && lstat(p, &st) == 0) rc = add_found(r, p, m, trusted, ntrusted, 0);
    if (rc) {
        ferry_license_report_free(r);
        return ferry_error_set(err, FERRY_EINTERNAL, store, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    return 0;
}

void ferry_license_report_free(struct ferry_license_report *r)
{
    free(r->found);
    memset(r, 0, sizeof(*r));
}

int ferry_license_accept(const char *path, const struct ferry_manifest *m,
                         const struct ferry_acceptor *who, const char *method, int store_in_model,
                         const struct ferry_license_opts *o, struct ferry_license_recorded *out,
                         struct ferry_error *err)
{
    static const struct ferry_license_opts none;
    if (!o) o = &none;
    int required;
    const struct ferry_resource *lic = license_of(m, &required), *pol[8];
    if (!lic)
        return ferry_error_set(err, FERRY_EMISMATCH, path, FERRY_NO_OFFSET, NULL,
                               "the manifest names no LICENSE file");
    size_t npol = 0;
    for (size_t i = 0; i < m->nres && npol < 8; i++)
        if (!strcmp(m->res[i].role, "use-policy")) pol[npol++] = &m->res[i];
    char cfg[4096], data[4096], now[32];
    xdg(o->config_dir, "XDG_CONFIG_HOME", ".config", cfg, sizeof(cfg));
    xdg(o->data_dir, "XDG_DATA_HOME", ".local/share", data, sizeof(data));
    time_t t = time(NULL);
    struct tm tm;
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    struct ferry_minisign_key key;
    struct ferry_minisign_pub pub;
    int rc = ferry_license_user_key(cfg, &key, &pub, err);
    if (rc) return rc;
    char *rec = ferry_license_record(m, lic, pol, npol, who, method, now, &key, &pub, err);
    memset(&key, 0, sizeof(key));
    if (!rec) return err ? err->code : FERRY_EINTERNAL;
    char store[4200], file[sizeof(out->path)], hex[65], root[65];
    snprintf(store, sizeof(store), "%s/ferry/licenses", data);
    ferry_hex(lic->sha256, 32, hex);
    ferry_hex(m->root, 32, root);
    if (snprintf(file, sizeof(file), "%s/%.16s-%.16s-%lld.dsse.json", store, hex, root,
                 (long long)t) >= (int)sizeof(file)) {
        free(rec);
        return ferry_error_set(err, FERRY_ECANTCREAT, store, FERRY_NO_OFFSET, NULL,
                               "path too long");
    }
    if (ferry_mkdirs(store, 0700) != 0)
        rc = ferry_error_set(err, FERRY_ECANTCREAT, store, FERRY_NO_OFFSET, NULL, "%s",
                             strerror(errno));
    if (!rc) rc = ferry_write_file(file, rec, strlen(rec), 1, err);
    if (!rc && out) {
        memcpy(out->path, file, sizeof(file));
        ferry_minisign_key_id(pub.keynum, out->key_id);
    }
    if (!rc && store_in_model) {
        char mfile[8400];
        snprintf(mfile, sizeof(mfile), "%s/%s", path, MODEL_RECORD);
        rc = ferry_write_file(mfile, rec, strlen(rec), 1, err);
    }
    free(rec);
    return rc;
}
