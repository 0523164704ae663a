/* ferry_verify_archive (see ferry/verify.h): an archive checked against its signed manifest in
 * one streaming pass, nothing extracted but the small signature files. */
#define _GNU_SOURCE
#include "ferry/archive.h"
#include "ferry/behind.h"
#include "ferry/file.h"
#include "ferry/verify.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SIG (64u << 20)

static const char *const sig_names[] = {"model.manifest.json", "model.manifest.json.minisig",
                                        "model.sig"};
#define NSIGFILES (sizeof(sig_names) / sizeof(sig_names[0]))

struct seen {
    char *name;
    uint64_t size;
    uint8_t sha256[32];
};

/* the hashing thread's side: member k's digest into d[k] */
struct hasher {
    EVP_MD_CTX *md;
    int64_t cur;
    uint8_t (*d)[32];
    size_t cap;
};

static int hash_sink(void *ctx, int64_t tag, const char *name, const uint8_t *bytes, size_t n,
                     int last, int failed, struct ferry_error *err)
{
    struct hasher *h = ctx;
    if (failed) return 0;
    if (tag != h->cur) {
        h->cur = tag;
        EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
    }
    EVP_DigestUpdate(h->md, bytes, n);
    if (!last) return 0;
    if ((size_t)tag >= h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        while (cap <= (size_t)tag) cap *= 2;
        uint8_t(*d)[32] = realloc(h->d, cap * 32);
        if (!d) return ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL, "oom");
        h->d = d, h->cap = cap;
    }
    EVP_DigestFinal_ex(h->md, h->d[tag], NULL);
    h->cur = -1;
    return 0;
}

struct pass {
    struct seen *s;
    size_t n, cap;
    struct ferry_behind *hash; /* decompressing and hashing overlap */
    int sig;                   /* which signature file the current member is, or -1 */
    char *sig_prefix; /* folder holding the signature files inside the archive ("" = top) */
    uint8_t *sig_buf[NSIGFILES];
    size_t sig_len[NSIGFILES];
    int has_sig[NSIGFILES];
    struct ferry_error *err;
};

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int on_begin(void *ctx, const struct ferry_archive_member *m)
{
    struct pass *p = ctx;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        struct seen *s = realloc(p->s, p->cap * sizeof(*s));
        if (!s)
            return ferry_error_set(p->err, FERRY_EINTERNAL, m->name, FERRY_NO_OFFSET, NULL, "oom");
        p->s = s;
    }
    struct seen *s = &p->s[p->n];
    memset(s, 0, sizeof(*s));
    if (!(s->name = strdup(m->name)))
        return ferry_error_set(p->err, FERRY_EINTERNAL, m->name, FERRY_NO_OFFSET, NULL, "oom");
    s->size = m->size;
    p->n++;
    p->sig = -1;
    for (size_t i = 0; i < NSIGFILES; i++)
        if (!strcmp(base_of(m->name), sig_names[i]) && m->size <= MAX_SIG) {
            size_t pl = (size_t)(base_of(m->name) - m->name);
            /* the shallowest signature decides where the model's root is */
            if (!p->sig_prefix || strlen(p->sig_prefix) > pl) {
                free(p->sig_prefix);
                p->sig_prefix = strndup(m->name, pl);
                for (size_t k = 0; k < NSIGFILES; k++) {
                    free(p->sig_buf[k]);
                    p->sig_buf[k] = NULL, p->sig_len[k] = 0, p->has_sig[k] = 0;
                }
            }
            if (strlen(p->sig_prefix) == pl && !strncmp(p->sig_prefix, m->name, pl)) {
                p->sig = (int)i;
                p->has_sig[i] = 1;
                free(p->sig_buf[i]);
                p->sig_buf[i] = malloc(m->size + 1), p->sig_len[i] = 0;
            }
        }
    return 0;
}

static int on_data(void *ctx, const void *bytes, size_t n)
{
    struct pass *p = ctx;
    int rc = ferry_behind_put(p->hash, (int64_t)(p->n - 1), p->s[p->n - 1].name, bytes, n, p->err);
    if (rc) return rc;
    if (p->sig >= 0 && p->sig_buf[p->sig]) {
        memcpy(p->sig_buf[p->sig] + p->sig_len[p->sig], bytes, n);
        p->sig_len[p->sig] += n;
    }
    return 0;
}

static int on_end(void *ctx)
{
    struct pass *p = ctx;
    return ferry_behind_end(p->hash, (int64_t)(p->n - 1), p->s[p->n - 1].name, p->err);
}

static void push(char ***list, size_t *n, const char *s)
{
    char **l = realloc(*list, (*n + 1) * sizeof(char *));
    if (l && (l[*n] = strdup(s))) *list = l, (*n)++;
}

/* The signature files into a private temporary folder (from the archive, else from beside it). */
static int stage_signature(const char *archive, struct pass *p, char *tmp, size_t tn,
                           struct ferry_error *err)
{
    snprintf(tmp, tn, "%s/ferry-verify-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp))
        return ferry_error_set(err, FERRY_ECANTCREAT, tmp, FERRY_NO_OFFSET, NULL,
                               "cannot make a temporary folder");
    int any = 0, rc = 0;
    for (size_t i = 0; i < NSIGFILES && !rc; i++) {
        char dst[4400];
        snprintf(dst, sizeof(dst), "%s/%s", tmp, sig_names[i]);
        if (p->has_sig[i] && p->sig_buf[i]) {
            rc = ferry_write_file(dst, p->sig_buf[i], p->sig_len[i], 1, err);
            any = 1;
        }
    }
    if (!any && !rc) { /* beside the archive */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", archive);
        char *sl = strrchr(dir, '/');
        if (sl)
            *sl = 0;
        else
            snprintf(dir, sizeof(dir), ".");
        for (size_t i = 0; i < NSIGFILES && !rc; i++) {
            char src[8400], dst[4400];
            snprintf(src, sizeof(src), "%s/%s", dir, sig_names[i]);
            snprintf(dst, sizeof(dst), "%s/%s", tmp, sig_names[i]);
            if (access(src, F_OK) == 0) rc = ferry_copy_file(src, dst, 1, err);
        }
        free(p->sig_prefix);
        p->sig_prefix = strdup("");
    }
    return rc;
}

static void unstage(const char *tmp)
{
    for (size_t i = 0; i < NSIGFILES; i++) {
        char dst[4400];
        snprintf(dst, sizeof(dst), "%s/%s", tmp, sig_names[i]);
        unlink(dst);
    }
    rmdir(tmp);
}

int ferry_verify_archive(const char *archive, const struct ferry_signature_opts *o,
                         struct ferry_manifest *m, struct ferry_signature_report *sr,
                         struct ferry_check_report *r, struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    memset(m, 0, sizeof(*m));
    struct hasher h = {.md = EVP_MD_CTX_new(), .cur = -1};
    struct pass p = {.hash = h.md ? ferry_behind_new(hash_sink, &h) : NULL, .sig = -1, .err = err};
    struct ferry_archive_visitor v = {&p, on_begin, on_data, on_end};
    int rc = p.hash ? ferry_archive_stream(archive, NULL, &v, err)
                    : ferry_error_set(err, FERRY_EINTERNAL, archive, FERRY_NO_OFFSET, NULL, "oom");
    if (p.hash) {
        struct ferry_error herr;
        ferry_error_clear(&herr);
        int hrc = ferry_behind_finish(p.hash, &herr);
        if (!rc && hrc) *err = herr, rc = hrc;
    }
    for (size_t k = 0; !rc && k < p.n; k++) memcpy(p.s[k].sha256, h.d[k], 32);
    char tmp[4096] = "";
    if (!rc) rc = stage_signature(archive, &p, tmp, sizeof(tmp), err);
    if (!rc) {
        struct ferry_signature_opts so = *o;
        so.sigfile = NULL;
        rc = ferry_verify_signature(tmp, &so, m, sr, err);
        if (rc == 1) {
            char inside[1024];
            snprintf(inside, sizeof(inside), "%s", sr->file + strlen(tmp) + 1);
            snprintf(sr->file, sizeof(sr->file), "%s//%s%s", archive, p.sig_prefix, inside);
        }
    }
    if (tmp[0]) unstage(tmp);
    if (rc == 1) { /* every member against the manifest, names below the signature's folder */
        size_t pl = strlen(p.sig_prefix);
        char *used = calloc(p.n + 1, 1);
        for (size_t j = 0; used && j < m->nres; j++) {
            const struct ferry_resource *res = &m->res[j];
            size_t k = 0;
            while (k < p.n &&
                   (strncmp(p.s[k].name, p.sig_prefix, pl) || strcmp(p.s[k].name + pl, res->name)))
                k++;
            if (k == p.n) {
                push(&r->missing, &r->nmissing, res->name);
                continue;
            }
            used[k] = 1;
            if ((res->has_size && res->size != p.s[k].size) ||
                memcmp(res->sha256, p.s[k].sha256, 32))
                push(&r->mismatched, &r->nmismatched, res->name);
            else
                r->nok++, r->bytes += p.s[k].size;
        }
        for (size_t k = 0; used && k < p.n; k++) {
            if (used[k]) continue;
            const char *rel = strncmp(p.s[k].name, p.sig_prefix, pl) ? NULL : p.s[k].name + pl;
            if (!rel || !ferry_manifest_ignores(m, rel)) push(&r->extra, &r->nextra, p.s[k].name);
        }
        if (!used)
            rc = ferry_error_set(err, FERRY_EINTERNAL, archive, FERRY_NO_OFFSET, NULL, "oom");
        free(used);
    }
    for (size_t k = 0; k < p.n; k++) free(p.s[k].name);
    free(p.s);
    for (size_t i = 0; i < NSIGFILES; i++) free(p.sig_buf[i]);
    free(p.sig_prefix);
    EVP_MD_CTX_free(h.md);
    free(h.d);
    return rc;
}
