/* Checksum-list verification (see ferry/checklist.h). Entries are checked in parallel. */
#define _GNU_SOURCE
#include "ferry/pool.h"
#include "ferry/archive.h"
#include "ferry/checklist.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "walk.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
    char *name;
    char hex[129];
    const EVP_MD *md;
    int state; /* 0 ok, 1 missing, 2 mismatch, 3 unreadable */
    uint64_t size;
};

struct job {
    const char *dir;
    struct entry *e;
    size_t n;
    atomic_size_t next;
};

static void worker(void *arg, unsigned self, unsigned nthreads)
{
    (void)self, (void)nthreads; /* every thread takes items from the shared queue */
    struct job *j = arg;
    uint8_t *buf = malloc(1 << 20);
    for (;;) {
        size_t k = atomic_fetch_add(&j->next, 1);
        if (k >= j->n) break;
        struct entry *e = &j->e[k];
        char *path;
        if (!buf || asprintf(&path, "%s/%s", j->dir, e->name) < 0) {
            e->state = 3;
            continue;
        }
        int fd = ferry_open_regular(path, 1, NULL);
        free(path);
        if (fd < 0) {
            e->state = fd == FERRY_ENOINPUT ? 1 : 3;
            continue;
        }
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        EVP_DigestInit_ex(c, e->md, NULL);
        ssize_t r;
        while ((r = read(fd, buf, 1 << 20)) > 0) {
            EVP_DigestUpdate(c, buf, (size_t)r);
            e->size += (uint64_t)r;
        }
        close(fd);
        uint8_t md[64];
        unsigned len = 0;
        EVP_DigestFinal_ex(c, md, &len);
        EVP_MD_CTX_free(c);
        char hex[129];
        ferry_hex(md, len, hex);
        e->state = r < 0 ? 3 : strcmp(hex, e->hex) ? 2 : 0;
    }
    free(buf);
    return;
}

static const EVP_MD *md_for_len(size_t n)
{
    return n == 32    ? EVP_md5()
           : n == 40  ? EVP_sha1()
           : n == 64  ? EVP_sha256()
           : n == 128 ? EVP_sha512()
                      : NULL;
}

/* Parses one line into e; returns 0, or -1 when the line is malformed. */
static int parse_line(char *line, struct entry *e)
{
    char *hex, *name;
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\r' || line[l - 1] == ' ')) line[--l] = 0;
    char *p = strstr(line, " (");
    if (p && isupper((unsigned char)line[0]) && (name = p + 2) && (hex = strstr(name, ") = "))) {
        *hex = 0; /* BSD: ALG (NAME) = HEX */
        hex += 4;
    } else {
        hex = line;
        char *sp = strchr(line, ' ');
        if (!sp) return -1;
        *sp = 0;
        name = sp + 1;
        if (*name == ' ' || *name == '*') name++;
    }
    size_t hl = strlen(hex);
    for (size_t i = 0; i < hl; i++) hex[i] = (char)tolower((unsigned char)hex[i]);
    if (!(e->md = md_for_len(hl)) || strspn(hex, "0123456789abcdef") != hl) return -1;
    if (!strncmp(name, "./", 2)) name += 2;
    if (!walk_name_safe(name)) return -1;
    memcpy(e->hex, hex, hl + 1);
    e->name = strdup(name);
    return e->name ? 0 : -1;
}

static int push(char ***list, size_t *n, const char *s)
{
    char **p = realloc(*list, (*n + 1) * sizeof(char *));
    if (!p || !(p[*n] = strdup(s))) return -1;
    *list = p;
    (*n)++;
    return 0;
}

/* The entries of a list: 0 with out and nout filled (the caller frees them), or an error. */
static int parse_list(const char *list_path, struct entry **out, size_t *nout,
                      struct ferry_error *err)
{
    FILE *f = ferry_fopen_regular(list_path, err);
    if (!f) return err ? err->code : FERRY_EIO;
    struct entry *es = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char line[8192];
    int rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct entry *p = realloc(es, cap * sizeof(*es));
            if (!p) {
                rc = ferry_error_set(err, FERRY_EINTERNAL, list_path, FERRY_NO_OFFSET, NULL, "oom");
                break;
            }
            es = p;
        }
        memset(&es[n], 0, sizeof(es[n]));
        if (parse_line(line, &es[n])) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, list_path, FERRY_NO_OFFSET, NULL,
                                 "line %zu is not 'HEX  NAME' with a safe relative name", lineno);
            break;
        }
        n++;
    }
    fclose(f);
    if (!rc && n == 0)
        rc = ferry_error_set(err, FERRY_EMALFORMED, list_path, FERRY_NO_OFFSET, NULL, "no entries");
    *out = es, *nout = n;
    return rc;
}

static void report(struct entry *es, size_t n, struct ferry_check_report *r)
{
    for (size_t i = 0; i < n; i++) {
        char msg[600];
        r->bytes += es[i].size;
        if (es[i].state == 0)
            r->nok++;
        else if (es[i].state == 1)
            push(&r->missing, &r->nmissing, es[i].name);
        else {
            snprintf(msg, sizeof(msg), "%s (%s)", es[i].name,
                     es[i].state == 2 ? "checksum differs"
                                      : "unreadable, not a regular file or a symbolic link");
            push(&r->mismatched, &r->nmismatched, msg);
        }
    }
}

int ferry_checklist_check(const char *dir, const char *list_path, unsigned threads,
                          struct ferry_check_report *r, struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    struct entry *es = NULL;
    size_t n = 0;
    int rc = parse_list(list_path, &es, &n, err);
    if (!rc) {
        struct job j = {.dir = dir, .e = es, .n = n};
        atomic_init(&j.next, 0);
        if (!threads) threads = ferry_cpu_count();
        unsigned nt = threads < 64 ? threads : 64;
        ferry_parallel(nt < n ? nt : (unsigned)n, worker, &j);
        report(es, n, r);
    }
    for (size_t i = 0; i < n; i++) free(es[i].name);
    free(es);
    return rc;
}

/* ---- the same for the members of an archive, hashed as they stream ---- */

struct apass {
    struct entry *es;
    size_t n;
    size_t plen;
    const char *prefix;
    struct entry *cur;
    EVP_MD_CTX *md;
};

static int a_begin(void *ctx, const struct ferry_archive_member *m)
{
    struct apass *p = ctx;
    p->cur = NULL;
    if (p->plen && (strncmp(m->name, p->prefix, p->plen) || m->name[p->plen] != '/')) return 1;
    const char *rel = m->name + (p->plen ? p->plen + 1 : 0);
    for (size_t i = 0; i < p->n && !p->cur; i++)
        if (!strcmp(p->es[i].name, rel)) p->cur = &p->es[i];
    if (!p->cur) return 1;
    p->cur->size = m->size;
    return EVP_DigestInit_ex(p->md, p->cur->md, NULL) ? 0 : FERRY_EINTERNAL;
}

static int a_data(void *ctx, const void *b, size_t n)
{
    struct apass *p = ctx;
    return EVP_DigestUpdate(p->md, b, n) ? 0 : FERRY_EINTERNAL;
}

static int a_end(void *ctx)
{
    struct apass *p = ctx;
    uint8_t d[64];
    unsigned dl = 0;
    char hex[129];
    EVP_DigestFinal_ex(p->md, d, &dl);
    ferry_hex(d, dl, hex);
    p->cur->state = strcmp(hex, p->cur->hex) ? 2 : 0;
    return 0;
}

int ferry_checklist_check_archive(const char *archive, const char *list_path,
                                  struct ferry_check_report *r, struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    struct entry *es = NULL;
    size_t n = 0;
    int rc = parse_list(list_path, &es, &n, err);
    char root[4096];
    ferry_archive_root(archive, root, sizeof(root)); /* "A//" or "A//TOP" */
    const char *prefix = strstr(root, "//") + 2;
    struct apass p = {es, n, strlen(prefix), prefix, NULL, EVP_MD_CTX_new()};
    for (size_t i = 0; i < n; i++) es[i].state = 1; /* missing until a member is met */
    if (!rc && !p.md)
        rc = ferry_error_set(err, FERRY_EINTERNAL, archive, FERRY_NO_OFFSET, NULL, "oom");
    struct ferry_archive_visitor v = {&p, a_begin, a_data, a_end};
    if (!rc) rc = ferry_archive_stream(archive, NULL, &v, err);
    if (!rc) report(es, n, r);
    EVP_MD_CTX_free(p.md);
    for (size_t i = 0; i < n; i++) free(es[i].name);
    free(es);
    return rc;
}
