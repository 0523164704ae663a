/* Model directory walk: regular files only, reference ordering, default ignores, refusal of
 * symlinks, special files and non-UTF-8 names. */
#define _GNU_SOURCE
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const walk_default_ignores[] = {
    ".git",
    ".gitattributes",
    ".github",
    ".gitignore",
    ".cache/huggingface",
    "model.sig",
    "model.manifest.json",
    "model.manifest.json.minisig",
    "license-acceptance.dsse.json",
};
const size_t walk_default_nignores = sizeof(walk_default_ignores) / sizeof(walk_default_ignores[0]);

void walk_free(struct walk_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof(*l));
}

int walk_path_cmp(const char *a, const char *b)
{
    /* comparing with '/' as the lowest byte orders by components, then by length */
    for (;; a++, b++) {
        unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca == '/') ca = 1;
        if (cb == '/') cb = 1;
        if (ca != cb) return ca < cb ? -1 : 1;
        if (!ca) return 0;
    }
}

int walk_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07;
        } else
            return 0;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

int walk_name_safe(const char *name)
{
    if (!name[0] || name[0] == '/') return 0;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e) break;
        p = e + 1;
        if (!*p) return 0; /* trailing slash */
    }
    return walk_utf8_valid(name);
}

/* The folder links may resolve into (see walk.h), as a real path. */
static int link_scope(const char *root, char *scope)
{
    char real[PATH_MAX], up[PATH_MAX + 16];
    if (!realpath(root, real)) return 0;
    snprintf(scope, PATH_MAX, "%s", real);
    char *s1 = strrchr(real, '/');
    if (!s1 || s1 == real) return 1;
    *s1 = 0; /* REPO/snapshots */
    char *s2 = strrchr(real, '/');
    struct stat st;
    snprintf(up, sizeof(up), "%s/../blobs", real);
    if (s2 && !strcmp(s2 + 1, "snapshots") && stat(up, &st) == 0 && S_ISDIR(st.st_mode)) {
        *s2 = 0;
        snprintf(scope, PATH_MAX, "%s", real);
    }
    return 1;
}

int walk_link_target(const char *root, const char *full, char *out)
{
    char scope[PATH_MAX];
    struct stat st;
    if (!link_scope(root, scope) || !realpath(full, out)) return 0;
    size_t l = strlen(scope);
    return !strncmp(out, scope, l) && out[l] == '/' && stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

static int ignored(const char *rel, const char *const *ign, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ign[i]);
        if (strncmp(rel, ign[i], l) == 0 && (rel[l] == 0 || rel[l] == '/')) return 1;
    }
    return 0;
}

/* ".model.manifest.json.tmp.PID" and the like: a signature being written (or left by a signer
 * that was killed) is part of the signing, not of the model, as the signature files are. */
static int signing_temp(const char *name)
{
    static const char *const sig[] = {"model.manifest.json", "model.manifest.json.minisig",
                                      "model.sig"};
    for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++) {
        size_t l = strlen(sig[i]);
        if (name[0] == '.' && !strncmp(name + 1, sig[i], l) && !strncmp(name + 1 + l, ".tmp.", 5) &&
            name[6 + l] && strspn(name + 6 + l, "0123456789") == strlen(name + 6 + l))
            return 1;
    }
    return 0;
}

struct ctx {
    const char *root;
    const char *const *ign;
    size_t nign;
    struct walk_list *out;
    struct ferry_error *err;
    int depth;
};

static int add(struct walk_list *l, const char *rel)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->paths, cap * sizeof(*p));
        if (!p) return -1;
        l->paths = p;
        l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(rel))) return -1;
    l->n++;
    return 0;
}

static int walk(struct ctx *c, const char *rel)
{
    char dir[8192];
    snprintf(dir, sizeof(dir), "%s%s%s", c->root, rel[0] ? "/" : "", rel);
    if (++c->depth > 64)
        return ferry_error_set(c->err, FERRY_EMALFORMED, dir, FERRY_NO_OFFSET, NULL,
                               "directories nested deeper than 64 levels");
    DIR *d = opendir(dir);
    if (!d)
        return ferry_error_set(c->err, ferry_errno_code(errno), dir, FERRY_NO_OFFSET, NULL,
                               "cannot open directory: %s", strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char child[8192];
        int n = snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        if (n < 0 || (size_t)n >= sizeof(child)) {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, dir, FERRY_NO_OFFSET, e->d_name,
                                 "path too long");
            break;
        }
        if (ignored(child, c->ign, c->nign) || (!rel[0] && signing_temp(e->d_name))) continue;
        char full[16384];
        snprintf(full, sizeof(full), "%s/%s", c->root, child);
        struct stat st;
        if (lstat(full, &st) != 0) {
            rc = ferry_error_set(c->err, FERRY_EIO, full, FERRY_NO_OFFSET, NULL, "stat: %s",
                                 strerror(errno));
            break;
        }
        if (!walk_utf8_valid(e->d_name)) {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, full, FERRY_NO_OFFSET, NULL,
                                 "file name is not valid UTF-8");
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            if (!walk_link_target(c->root, full, target))
                rc = ferry_error_set(c->err, FERRY_EMALFORMED, full, FERRY_NO_OFFSET, NULL,
                                     "a symbolic link out of the model's folder (or to no "
                                     "regular file) is refused; copy the file or --ignore it");
            else if (add(c->out, child))
                rc = ferry_error_set(c->err, FERRY_EINTERNAL, full, FERRY_NO_OFFSET, NULL, "oom");
            else
                c->out->links = 1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(c, child);
        } else if (S_ISREG(st.st_mode)) {
            if (add(c->out, child))
                rc = ferry_error_set(c->err, FERRY_EINTERNAL, full, FERRY_NO_OFFSET, NULL, "oom");
        } else {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, full, FERRY_NO_OFFSET, NULL,
                                 "special file (FIFO, socket or device) refused");
        }
    }
    closedir(d);
    c->depth--;
    return rc;
}

static int cmp(const void *a, const void *b)
{
    return walk_path_cmp(*(char *const *)a, *(char *const *)b);
}

int walk_dir(const char *root, const char *const *ignore, size_t nignore, int defaults,
             struct walk_list *out, struct ferry_error *err)
{
    memset(out, 0, sizeof(*out));
    const char **all = malloc((walk_default_nignores + nignore + 1) * sizeof(char *));
    if (!all) return ferry_error_set(err, FERRY_EINTERNAL, root, FERRY_NO_OFFSET, NULL, "oom");
    size_t n = 0;
    for (size_t i = 0; defaults && i < walk_default_nignores; i++)
        all[n++] = walk_default_ignores[i];
    for (size_t i = 0; i < nignore; i++) all[n++] = ignore[i];
    struct ctx c = {root, all, n, out, err, 0};
    int rc = walk(&c, "");
    free(all);
    if (rc) {
        walk_free(out);
        return rc;
    }
    qsort(out->paths, out->n, sizeof(char *), cmp);
    return 0;
}
