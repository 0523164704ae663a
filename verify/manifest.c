/* OMS v1.0 statements: build from a directory, serialize, parse, check against a directory. */
#define _GNU_SOURCE
#include "ferry/manifest.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "filehash.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ferry_manifest_free(struct ferry_manifest *m)
{
    for (size_t i = 0; i < m->nres; i++) {
        free(m->res[i].name);
        free(m->res[i].license_id);
    }
    free(m->res);
    for (size_t i = 0; i < m->nignore; i++) free(m->ignore_paths[i]);
    free(m->ignore_paths);
    free(m->subject_name);
    memset(m, 0, sizeof(*m));
}

void ferry_check_report_free(struct ferry_check_report *r)
{
    char **lists[3] = {r->missing, r->extra, r->mismatched};
    size_t ns[3] = {r->nmissing, r->nextra, r->nmismatched};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < ns[k]; i++) free(lists[k][i]);
        free(lists[k]);
    }
    memset(r, 0, sizeof(*r));
}

void ferry_manifest_compute_root(struct ferry_manifest *m)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < m->nres; i++) EVP_DigestUpdate(c, m->res[i].sha256, 32);
    EVP_DigestFinal_ex(c, m->root, NULL);
    EVP_MD_CTX_free(c);
}

static const char *role_of(const char *name)
{
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    if (!strncmp(base, "LICENSE", 7)) return "license";
    if (!strncmp(base, "USE_POLICY", 10)) return "use-policy";
    if (!strncmp(base, "NOTICE", 6)) return "notice";
    return "";
}

/* Opens a file of the model without following symlinks; fills size. */
static int open_member(const char *root, const char *path, uint64_t *size, char *why, size_t n)
{
    /* the one regular-file opener: a FIFO put where a signed file was does not block; a link
     * is followed only to a file inside the model's folder (walk_link_target) */
    struct ferry_error e;
    ferry_error_clear(&e);
    char target[PATH_MAX];
    struct stat lst;
    if (root && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) &&
        walk_link_target(root, path, target))
        path = target;
    int fd = ferry_open_regular_sized(path, 1, size, &e);
    if (fd < 0) {
        snprintf(why, n, "%.200s", e.cause); /* why buffers are 256 bytes */
        return fd == FERRY_ENOINPUT ? -ENOENT : -EINVAL;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return fd;
}

static char *base_name(const char *path)
{
    char *dup = strdup(path);
    if (!dup) return NULL;
    size_t l = strlen(dup);
    while (l > 1 && dup[l - 1] == '/') dup[--l] = 0;
    char *b = strdup(basename(dup));
    free(dup);
    return b;
}

int ferry_manifest_build(const char *root, const struct ferry_walk_opts *opts,
                         struct ferry_manifest *m, struct ferry_error *err)
{
    memset(m, 0, sizeof(*m));
    struct stat st;
    if (stat(root, &st) != 0)
        return ferry_error_set(err, ferry_errno_code(errno), root, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    struct walk_list list = {0};
    int single = !S_ISDIR(st.st_mode), rc = 0;
    m->subject_name = base_name(root);
    if (single) {
        list.paths = malloc(sizeof(char *));
        if (list.paths && (list.paths[0] = strdup(m->subject_name))) list.n = 1;
    } else if ((rc = walk_dir(root, opts->ignore, opts->nignore, !opts->all_files, &list, err))) {
        ferry_manifest_free(m);
        return rc;
    }
    if (list.n == 0) {
        walk_free(&list);
        ferry_manifest_free(m);
        return ferry_error_set(err, FERRY_EMALFORMED, root, FERRY_NO_OFFSET, NULL,
                               "no files to sign (an empty model is refused)");
    }
    m->res = calloc(list.n, sizeof(*m->res));
    struct fh_file *files = calloc(list.n, sizeof(*files));
    char **full = calloc(list.n, sizeof(char *));
    if (!m->res || !files || !full) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, root, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    for (size_t i = 0; i < list.n; i++) files[i].fd = -1;
    for (size_t i = 0; i < list.n && !rc; i++) {
        struct ferry_resource *r = &m->res[i];
        r->name = list.paths[i];
        list.paths[i] = NULL;
        m->nres++;
        if (single)
            full[i] = strdup(root);
        else if (asprintf(&full[i], "%s/%s", root, r->name) < 0)
            full[i] = NULL;
        char why[256];
        int fd = full[i]
                     ? open_member(single ? NULL : root, full[i], &files[i].size, why, sizeof(why))
                     : -ENOMEM;
        if (fd < 0) {
            rc = ferry_error_set(err, FERRY_EIO, full[i] ? full[i] : root, FERRY_NO_OFFSET, NULL,
                                 "%s", full[i] ? why : "oom");
            break;
        }
        files[i] = (struct fh_file){.name = full[i],
                                    .fd = fd,
                                    .size = files[i].size,
                                    .want_sha = 1,
                                    .want_btv2 = opts->btv2};
        r->size = files[i].size;
        r->has_size = 1;
        snprintf(r->role, sizeof(r->role), "%s", role_of(r->name));
        if (!strcmp(r->role, "license") && opts->license_id)
            r->license_id = strdup(opts->license_id);
        if (r->role[0] && strcmp(r->role, "notice"))
            r->requires_acceptance = opts->require_acceptance;
    }
    if (!rc && !opts->walk_only)
        rc = fh_hash(files, list.n, opts->threads, opts->progress, opts->progress_ctx, err);
    for (size_t i = 0; !rc && i < list.n; i++) {
        memcpy(m->res[i].sha256, files[i].sha256, 32);
        memcpy(m->res[i].btv2, files[i].btv2, 32);
        m->res[i].has_btv2 = files[i].has_btv2;
    }
    if (!rc) {
        ferry_manifest_compute_root(m);
        m->allow_symlinks = list.links;
        size_t n = walk_default_nignores + opts->nignore;
        m->ignore_paths = calloc(n, sizeof(char *));
        for (size_t i = 0; m->ignore_paths && i < n; i++)
            m->ignore_paths[m->nignore++] =
                strdup(i < walk_default_nignores ? walk_default_ignores[i]
                                                 : opts->ignore[i - walk_default_nignores]);
    }
out:
    for (size_t i = 0; files && i < list.n; i++)
        if (files[i].fd >= 0) close(files[i].fd);
    for (size_t i = 0; full && i < list.n; i++) free(full[i]);
    free(full);
    free(files);
    walk_free(&list);
    if (rc) ferry_manifest_free(m);
    return rc;
}

char *ferry_manifest_to_json(const struct ferry_manifest *m)
{
    char hex[65];
    json_t *st = json_object(), *subj = json_object(), *dig = json_object();
    json_object_set_new(st, "_type", json_string(FERRY_INTOTO_STATEMENT));
    json_object_set_new(subj, "name", json_string(m->subject_name ? m->subject_name : "model"));
    ferry_hex(m->root, 32, hex);
    json_object_set_new(dig, "sha256", json_string(hex));
    json_object_set_new(subj, "digest", dig);
    json_object_set_new(st, "subject", json_pack("[o]", subj));
    json_object_set_new(st, "predicateType", json_string(FERRY_OMS_PREDICATE));
    json_t *pred = json_object(), *ser = json_object(), *ign = json_array(), *res = json_array();
    json_object_set_new(ser, "method", json_string("files"));
    json_object_set_new(ser, "hash_type", json_string("sha256"));
    json_object_set_new(ser, "allow_symlinks", json_boolean(m->allow_symlinks));
    for (size_t i = 0; i < m->nignore; i++)
        json_array_append_new(ign, json_string(m->ignore_paths[i]));
    json_object_set_new(ser, "ignore_paths", ign);
    json_object_set_new(pred, "serialization", ser);
    for (size_t i = 0; i < m->nres; i++) {
        const struct ferry_resource *r = &m->res[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "algorithm", json_string("sha256"));
        ferry_hex(r->sha256, 32, hex);
        json_object_set_new(o, "digest", json_string(hex));
        if (r->has_size) json_object_set_new(o, "ferry.size", json_integer((json_int_t)r->size));
        if (r->has_btv2) {
            ferry_hex(r->btv2, 32, hex);
            json_object_set_new(o, "ferry.btv2_root", json_string(hex));
        }
        if (r->role[0]) {
            json_object_set_new(o, "ferry.role", json_string(r->role));
            if (r->license_id)
                json_object_set_new(o, "ferry.license_id", json_string(r->license_id));
            json_object_set_new(o, "ferry.requires_acceptance",
                                json_boolean(r->requires_acceptance));
        }
        json_array_append_new(res, o);
    }
    json_object_set_new(pred, "resources", res);
    json_object_set_new(st, "predicate", pred);
    char *s = json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(st);
    return s;
}

#define BAD(...) ferry_error_set(err, FERRY_EMALFORMED, what, FERRY_NO_OFFSET, __VA_ARGS__)

int ferry_manifest_parse(const char *text, size_t len, const char *what, struct ferry_manifest *m,
                         struct ferry_error *err)
{
    memset(m, 0, sizeof(*m));
    json_error_t je;
    json_t *st = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!st) return BAD(NULL, "statement is not valid JSON: %s", je.text);
    int rc = 0;
    const char *type = json_string_value(json_object_get(st, "_type"));
    const char *pt = json_string_value(json_object_get(st, "predicateType"));
    json_t *subj = json_object_get(st, "subject"), *pred = json_object_get(st, "predicate");
    if (!type || strcmp(type, FERRY_INTOTO_STATEMENT)) {
        rc = BAD("_type", "not an in-toto Statement v1");
        goto out;
    }
    if (!pt || strcmp(pt, FERRY_OMS_PREDICATE)) {
        rc = BAD("predicateType", "is '%s', expected %s", pt ? pt : "(missing)",
                 FERRY_OMS_PREDICATE);
        goto out;
    }
    if (!json_is_array(subj) || json_array_size(subj) != 1) {
        rc = BAD("subject", "must hold exactly one entry");
        goto out;
    }
    const char *sname = json_string_value(json_object_get(json_array_get(subj, 0), "name"));
    const char *sdig = json_string_value(
        json_object_get(json_object_get(json_array_get(subj, 0), "digest"), "sha256"));
    uint8_t subject_root[32];
    if (!sname || !sname[0] || ferry_unhex(sdig, subject_root, 32, 1)) {
        rc = BAD("subject", "needs a non-empty name and a sha256 digest");
        goto out;
    }
    m->subject_name = strdup(sname);
    json_t *ser = json_object_get(pred, "serialization"), *res = json_object_get(pred, "resources");
    const char *method = json_string_value(json_object_get(ser, "method"));
    const char *ht = json_string_value(json_object_get(ser, "hash_type"));
    if (!method || strcmp(method, "files") || !ht || strcmp(ht, "sha256")) {
        rc = BAD("serialization",
                 "only method 'files' with hash_type 'sha256' is supported (got %s, %s)",
                 method ? method : "?", ht ? ht : "?");
        goto out;
    }
    m->allow_symlinks = json_is_true(json_object_get(ser, "allow_symlinks"));
    json_t *ign = json_object_get(ser, "ignore_paths");
    if (json_is_array(ign)) {
        m->ignore_paths = calloc(json_array_size(ign) + 1, sizeof(char *));
        for (size_t i = 0; m->ignore_paths && i < json_array_size(ign); i++) {
            const char *p = json_string_value(json_array_get(ign, i));
            if (p && walk_name_safe(p)) m->ignore_paths[m->nignore++] = strdup(p);
        }
    }
    if (!json_is_array(res) || json_array_size(res) == 0) {
        rc = BAD("resources", "must be a non-empty array");
        goto out;
    }
    m->res = calloc(json_array_size(res), sizeof(*m->res));
    if (!m->res) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, what, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *o = json_array_get(res, i);
        struct ferry_resource *r = &m->res[m->nres];
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *alg = json_string_value(json_object_get(o, "algorithm"));
        const char *dig = json_string_value(json_object_get(o, "digest"));
        if (!name || (!walk_name_safe(name) && strcmp(name, "."))) {
            rc = BAD(name ? name : "resources",
                     "resource name is not a safe relative path (absolute, "
                     "'..', empty component or invalid UTF-8)");
            goto out;
        }
        if (!alg || strcmp(alg, "sha256") || ferry_unhex(dig, r->sha256, 32, 1)) {
            rc = BAD(name, "needs algorithm sha256 and a 64-digit lowercase hex digest");
            goto out;
        }
        r->name = strdup(name);
        m->nres++;
        json_t *sz = json_object_get(o, "ferry.size");
        if (json_is_integer(sz) && json_integer_value(sz) >= 0) {
            r->size = (uint64_t)json_integer_value(sz);
            r->has_size = 1;
        }
        const char *bt = json_string_value(json_object_get(o, "ferry.btv2_root"));
        if (bt && !ferry_unhex(bt, r->btv2, 32, 1)) r->has_btv2 = 1;
        const char *role = json_string_value(json_object_get(o, "ferry.role"));
        if (role) snprintf(r->role, sizeof(r->role), "%s", role);
        const char *lid = json_string_value(json_object_get(o, "ferry.license_id"));
        if (lid) r->license_id = strdup(lid);
        r->requires_acceptance = json_is_true(json_object_get(o, "ferry.requires_acceptance"));
    }
    for (size_t i = 0; i < m->nres; i++)
        for (size_t j = i + 1; j < m->nres; j++)
            if (!strcmp(m->res[i].name, m->res[j].name)) {
                rc = BAD(m->res[i].name, "resource listed twice");
                goto out;
            }
    ferry_manifest_compute_root(m);
    if (memcmp(m->root, subject_root, 32) != 0) {
        char a[65], b[65];
        ferry_hex(subject_root, 32, a);
        ferry_hex(m->root, 32, b);
        rc = ferry_error_set(err, FERRY_EMISMATCH, what, FERRY_NO_OFFSET, "subject",
                             "manifest is inconsistent: subject digest %s, resources hash to %s", a,
                             b);
    }
out:
    json_decref(st);
    if (rc) ferry_manifest_free(m);
    return rc;
}

static int push(char ***list, size_t *n, const char *s)
{
    char **p = realloc(*list, (*n + 1) * sizeof(char *));
    if (!p) return -1;
    *list = p;
    p[*n] = strdup(s);
    if (!p[*n]) return -1;
    (*n)++;
    return 0;
}

int ferry_manifest_check(const char *root, const struct ferry_manifest *m,
                         const struct ferry_walk_opts *opts, struct ferry_check_report *r,
                         struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    struct stat st;
    if (stat(root, &st) != 0)
        return ferry_error_set(err, ferry_errno_code(errno), root, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    int single = !S_ISDIR(st.st_mode), rc = 0;
    struct fh_file *files = calloc(m->nres, sizeof(*files));
    char **full = calloc(m->nres, sizeof(char *));
    size_t *idx = calloc(m->nres, sizeof(size_t)), nf = 0;
    if (!files || !full || !idx) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, root, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    for (size_t i = 0; i < m->nres; i++) {
        const struct ferry_resource *res = &m->res[i];
        char why[256];
        uint64_t size = 0;
        if (single ? (m->nres != 1) : !walk_name_safe(res->name)) {
            rc = ferry_error_set(err, FERRY_EMISMATCH, root, FERRY_NO_OFFSET, res->name,
                                 "resource does not fit this path");
            goto out;
        }
        if (single)
            full[i] = strdup(root);
        else if (asprintf(&full[i], "%s/%s", root, res->name) < 0)
            full[i] = NULL;
        int fd = full[i] ? open_member(single || !m->allow_symlinks ? NULL : root, full[i], &size,
                                       why, sizeof(why))
                         : -ENOMEM;
        if (fd == -ENOENT) {
            push(&r->missing, &r->nmissing, res->name);
            continue;
        }
        if (fd < 0 || (res->has_size && size != res->size)) {
            char msg[600];
            if (fd >= 0) {
                snprintf(why, sizeof(why), "size %llu, manifest says %llu",
                         (unsigned long long)size, (unsigned long long)res->size);
                close(fd);
            }
            snprintf(msg, sizeof(msg), "%s (%s)", res->name, why);
            push(&r->mismatched, &r->nmismatched, msg);
            continue;
        }
        files[nf] = (struct fh_file){.name = full[i],
                                     .fd = fd,
                                     .size = size,
                                     .want_sha = 1,
                                     .want_btv2 = opts && opts->btv2 && res->has_btv2};
        idx[nf++] = i;
    }
    rc = fh_hash(files, nf, opts ? opts->threads : 0, opts ? opts->progress : NULL,
                 opts ? opts->progress_ctx : NULL, err);
    for (size_t k = 0; !rc && k < nf; k++) {
        const struct ferry_resource *res = &m->res[idx[k]];
        r->bytes += files[k].size;
        if (memcmp(files[k].sha256, res->sha256, 32) != 0) {
            char msg[600];
            snprintf(msg, sizeof(msg), "%s (sha256 differs)", res->name);
            push(&r->mismatched, &r->nmismatched, msg);
        } else if (files[k].want_btv2 && memcmp(files[k].btv2, res->btv2, 32) != 0) {
            char msg[600];
            snprintf(msg, sizeof(msg), "%s (BitTorrent v2 root differs)", res->name);
            push(&r->mismatched, &r->nmismatched, msg);
        } else
            r->nok++;
    }
    if (!rc && !single) {
        /* extra files: everything the walk finds that the manifest does not list */
        size_t ni = (opts ? opts->nignore : 0) + m->nignore;
        const char **ign = calloc(ni + 1, sizeof(char *));
        size_t k = 0;
        for (size_t i = 0; opts && i < opts->nignore; i++) ign[k++] = opts->ignore[i];
        for (size_t i = 0; i < m->nignore; i++) ign[k++] = m->ignore_paths[i];
        struct walk_list list;
        rc = ign ? walk_dir(root, ign, k, 1, &list, err) : FERRY_EINTERNAL;
        free(ign);
        if (rc == FERRY_EMALFORMED) rc = FERRY_EMISMATCH; /* a symlink or special file appeared */
        for (size_t i = 0; !rc && i < list.n; i++) {
            int listed = 0;
            for (size_t j = 0; j < m->nres && !listed; j++)
                listed = !strcmp(list.paths[i], m->res[j].name);
            if (!listed) push(&r->extra, &r->nextra, list.paths[i]);
        }
        if (!rc) walk_free(&list);
    }
out:
    for (size_t k = 0; files && k < nf; k++) close(files[k].fd);
    for (size_t i = 0; full && i < m->nres; i++) free(full[i]);
    free(full);
    free(files);
    free(idx);
    return rc;
}

int ferry_manifest_list_all(const char *root, struct ferry_manifest *m, struct ferry_error *err)
{
    static const char *const ign[] = {".git", ".cache"};
    struct ferry_walk_opts wo = {.ignore = ign, .nignore = 2, .walk_only = 1, .all_files = 1};
    return ferry_manifest_build(root, &wo, m, err);
}

int ferry_manifest_ignores(const struct ferry_manifest *m, const char *rel)
{
    for (size_t g = 0; g < m->nignore; g++) {
        size_t gl = strlen(m->ignore_paths[g]);
        if (!strncmp(rel, m->ignore_paths[g], gl) && (rel[gl] == 0 || rel[gl] == '/')) return 1;
    }
    return 0;
}
