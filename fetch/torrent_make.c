/* Making .torrent files (see ferry/torrent.h). One pass over the data computes the v1 piece
 * hashes and the v2 merkle leaves together: in a hybrid every file starts on a piece boundary
 * (BEP 47 pad files fill the gaps), so each piece lies inside one file and serves both. */
#define _GNU_SOURCE
#include "ferry/torrent.h"
#include "ferry/hash.h"
#include "ferry/manifest.h"
#include "ferry/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEAF  16384u
#define CHUNK (1u << 20)

struct entry { /* a file or (hybrid) a pad file in the v1 order */
    const char *name;
    int fd; /* -1 for pads and empty files */
    uint64_t size, off;
    size_t file; /* index into the manifest's resources, for files */
    int pad;
};

struct job {
    enum ferry_torrent_kind kind;
    uint64_t piece, total, npieces;
    struct entry *ent;
    size_t nent;
    uint8_t *v1;   /* 20 bytes per piece */
    uint8_t *v2;   /* 32 bytes per piece: subtree root (a one-piece file: the file's root) */
    uint64_t *one; /* per piece: 1 when its file has a single piece */
    uint8_t zero_v1[20], zero_v2[32];
    atomic_uint_fast64_t next, done;
    const volatile int *cancel;
    const struct ferry_torrent_opts *o;
    _Atomic int failed;
    char why[512];
};

uint64_t ferry_torrent_auto_piece(uint64_t total)
{
    uint64_t p = LEAF;
    while (p < (16u << 20) && p * 8192 < total) p <<= 1; /* about 8192 pieces, 16 KiB to 16 MiB */
    while ((total + p - 1) / p > FERRY_TORRENT_MAX_PIECES) p <<= 1;
    return p;
}

/* The entry holding virtual offset off (entries are in offset order). */
static size_t find(const struct job *j, uint64_t off)
{
    size_t lo = 0, hi = j->nent;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (j->ent[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    while (lo + 1 < j->nent && j->ent[lo].off + j->ent[lo].size <= off) lo++;
    return lo;
}

static int read_full(int fd, uint8_t *buf, uint64_t off, size_t n)
{
    while (n) {
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? errno : EIO;
        buf += r, off += (uint64_t)r, n -= (size_t)r;
    }
    return 0;
}

/* 1 when [off, off+n) of fd is a hole (reads as zeros without being stored). */
static int is_hole(int fd, uint64_t off, uint64_t n)
{
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    return (d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= off + n);
}

static void fail(struct job *j, const char *name, int e)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&j->failed, &expect, 1))
        snprintf(j->why, sizeof(j->why), "%s: %s", name, strerror(e));
}

/* Hashes piece g: v1 over the virtual stream (pads and, in a hybrid, the tail pad read as
 * zeros), v2 over the one file it lies in. */
static void hash_piece(struct job *j, uint64_t g, uint8_t *buf, uint8_t *leaves)
{
    uint64_t start = g * j->piece, end = start + j->piece;
    if (end > j->total) end = j->total;
    int v1 = j->kind != FERRY_TORRENT_V2, v2 = j->kind != FERRY_TORRENT_V1;
    size_t e = find(j, start);
    const struct entry *f = &j->ent[e];
    /* v2/hybrid: the piece's data is file e's bytes [a, b) */
    uint64_t a = start - f->off, b = f->size < a + j->piece ? f->size : a + j->piece;
    uint64_t bpp = j->piece / LEAF;
    if (v2 && !f->pad && b - a == j->piece && is_hole(f->fd, a, b - a)) {
        if (v1) memcpy(j->v1 + 20 * g, j->zero_v1, 20);
        memcpy(j->v2 + 32 * g, j->zero_v2, 32);
        return;
    }
    EVP_MD_CTX *s1 = v1 ? EVP_MD_CTX_new() : NULL;
    if (v1 && (!s1 || !EVP_DigestInit_ex(s1, EVP_sha1(), NULL))) {
        EVP_MD_CTX_free(s1);
        fail(j, f->name, ENOMEM);
        return;
    }
    uint64_t nleaves = 0, pos = start;
    while (pos < end) {
        e = find(j, pos);
        f = &j->ent[e];
        uint64_t in = pos - f->off, n = f->off + f->size - pos;
        if (n > end - pos) n = end - pos;
        if (n > CHUNK) n = CHUNK;
        if (f->fd < 0)
            memset(buf, 0, n);
        else {
            int rc = read_full(f->fd, buf, in, n);
            if (rc) {
                EVP_MD_CTX_free(s1);
                fail(j, f->name, rc);
                return;
            }
        }
        if (v1) EVP_DigestUpdate(s1, buf, n);
        if (v2 && !f->pad)
            for (uint64_t k = 0; k < n; k += LEAF, nleaves++)
                SHA256(buf + k, n - k < LEAF ? n - k : LEAF, leaves + 32 * nleaves);
        pos += n;
    }
    if (v1) EVP_DigestFinal_ex(s1, j->v1 + 20 * g, NULL);
    EVP_MD_CTX_free(s1);
    if (v2) {
        const struct entry *file = &j->ent[find(j, start)];
        uint8_t zero[32] = {0};
        uint64_t width = j->one[g] ? ferry_pow2_at_least((file->size + LEAF - 1) / LEAF) : bpp;
        ferry_merkle_fold(leaves, nleaves, width, zero, j->v2 + 32 * g);
    }
}

static void worker(void *ctx, unsigned i, unsigned n)
{
    (void)n;
    struct job *j = ctx;
    uint8_t *buf = malloc(CHUNK), *leaves = malloc(32 * (j->piece / LEAF + 1));
    if (!buf || !leaves) fail(j, "hashing", ENOMEM);
    while (buf && leaves && !atomic_load(&j->failed) && !(j->cancel && *j->cancel)) {
        uint64_t g = atomic_fetch_add(&j->next, 1);
        if (g >= j->npieces) break;
        hash_piece(j, g, buf, leaves);
        uint64_t done = atomic_fetch_add(&j->done, 1) + 1;
        if (i == 0 && j->o->progress) {
            uint64_t bytes = done * j->piece;
            j->o->progress(j->o->ctx, bytes < j->total ? bytes : j->total, j->total);
        }
    }
    free(buf);
    free(leaves);
}

/* ---- encoding ---- */

static void put_path_list(struct ferry_bbuf *b, const char *path)
{
    ferry_benc_open(b, 'l');
    for (const char *p = path;;) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        ferry_benc_str(b, p, n);
        if (!s) break;
        p = s + 1;
    }
    ferry_benc_close(b);
}

/* The v2 file tree: names are sorted component-wise, so the files of one folder are
 * neighbours and one pass nests them. */
struct tree_ctx {
    struct ferry_bbuf *b;
    const struct ferry_manifest *m;
    const uint8_t *roots; /* 32 per resource */
    const int *has_root;
};

static size_t comp_len(const char *p)
{
    const char *s = strchr(p, '/');
    return s ? (size_t)(s - p) : strlen(p);
}

static void put_file(struct ferry_bbuf *b, const char *name, size_t nl, uint64_t size,
                     const uint8_t *root)
{
    ferry_benc_str(b, name, nl);
    ferry_benc_open(b, 'd');
    ferry_benc_cstr(b, "");
    ferry_benc_open(b, 'd');
    ferry_benc_cstr(b, "length");
    ferry_benc_int(b, (int64_t)size);
    if (root) {
        ferry_benc_cstr(b, "pieces root");
        ferry_benc_str(b, root, 32);
    }
    ferry_benc_close(b);
    ferry_benc_close(b);
}

/* The folder holding resources [lo, hi), whose names share their first skip bytes. */
static void put_tree(const struct tree_ctx *c, size_t lo, size_t hi, size_t skip)
{
    ferry_benc_open(c->b, 'd');
    for (size_t i = lo; i < hi;) {
        const char *name = c->m->res[i].name + skip;
        size_t cl = comp_len(name);
        if (!name[cl]) {
            put_file(c->b, name, cl, c->m->res[i].size, c->has_root[i] ? c->roots + 32 * i : NULL);
            i++;
            continue;
        }
        size_t end = i + 1;
        while (end < hi && !strncmp(c->m->res[end].name + skip, name, cl) &&
               c->m->res[end].name[skip + cl] == '/')
            end++;
        ferry_benc_str(c->b, name, cl);
        put_tree(c, i, end, skip + cl + 1);
        i = end;
    }
    ferry_benc_close(c->b);
}

/* A file's piece layer in the metainfo, keyed by its root. */
struct layer {
    uint8_t root[32];
    size_t ent;
};

static int by_root(const void *a, const void *b)
{
    return memcmp(((const struct layer *)a)->root, ((const struct layer *)b)->root, 32);
}

static char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/') s--;
    return strndup(path + s, n - s);
}

int ferry_torrent_create(const char *path, const struct ferry_torrent_opts *o,
                         struct ferry_bbuf *out, struct ferry_torrent_plan *plan,
                         struct ferry_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(plan, 0, sizeof(*plan));
    struct ferry_manifest m;
    int rc = ferry_manifest_list_all(path, &m, err);
    if (rc) return rc;
    struct stat st;
    int single = stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
    char *name = o->name ? strdup(o->name) : base_name(path);
    uint64_t total = 0;
    for (size_t i = 0; i < m.nres; i++) total += m.res[i].size;
    if (total == 0) {
        ferry_manifest_free(&m);
        free(name);
        return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                               "nothing to share: every file is empty");
    }
    uint64_t piece = o->piece_size ? o->piece_size : ferry_torrent_auto_piece(total);
    int v1 = o->kind != FERRY_TORRENT_V2, v2 = o->kind != FERRY_TORRENT_V1;
    struct job j = {.kind = o->kind, .piece = piece, .cancel = o->cancel, .o = o};
    /* layout: files in order; in v2/hybrid each non-empty file starts a piece (a hybrid's v1
     * list names the gap as a pad file; v2 only implies it) */
    j.ent = calloc(2 * m.nres + 1, sizeof(*j.ent));
    uint8_t *roots = calloc(m.nres + 1, 32);
    int *has_root = calloc(m.nres + 1, sizeof(int));
    char(*padname)[32] = calloc(m.nres + 1, sizeof(*padname));
    if (!j.ent || !roots || !has_root || !padname || !name) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    for (size_t i = 0; i < 2 * m.nres + 1; i++) j.ent[i].fd = -1;
    uint64_t off = 0;
    for (size_t i = 0; i < m.nres; i++) {
        struct entry *e = &j.ent[j.nent++];
        e->name = m.res[i].name, e->size = m.res[i].size, e->off = off, e->file = i;
        off += e->size;
        if (e->size) {
            char full[4096];
            if (single)
                snprintf(full, sizeof(full), "%s", path);
            else
                snprintf(full, sizeof(full), "%s/%s", path, e->name);
            e->fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (e->fd < 0) {
                rc = ferry_error_set(err, ferry_errno_code(errno), full, FERRY_NO_OFFSET, NULL,
                                     "%s", strerror(errno));
                goto out;
            }
        }
        uint64_t gap = (piece - off % piece) % piece;
        if (v2 && e->size && gap && !single) {
            struct entry *p = &j.ent[j.nent++];
            snprintf(padname[i], sizeof(padname[i]), ".pad/%" PRIu64, gap);
            p->name = padname[i], p->size = gap, p->off = off, p->pad = 1;
            off += gap;
        }
    }
    j.total = off;
    j.npieces = (off + piece - 1) / piece;
    plan->files = m.nres, plan->bytes = total, plan->piece_size = piece, plan->pieces = j.npieces;
    uint64_t est = j.npieces * ((v1 ? 20u : 0u) + (v2 ? 32u : 0u)) + m.nres * 200u;
    if (piece < LEAF || (piece & (piece - 1)) || j.npieces > FERRY_TORRENT_HARD_PIECES ||
        est > FERRY_TORRENT_HARD_BYTES) {
        rc = ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                             piece < LEAF || (piece & (piece - 1))
                                 ? "piece size %" PRIu64 " is not a power of two of at least 16 KiB"
                                 : "piece size %" PRIu64 " makes %" PRIu64 " pieces, a .torrent "
                                   "clients refuse to load (leave --piece-size at auto)",
                             piece, j.npieces);
        goto out;
    }
    plan->over_bound = j.npieces > FERRY_TORRENT_MAX_PIECES;
    j.v1 = calloc(j.npieces + 1, 20);
    j.v2 = calloc(j.npieces + 1, 32);
    j.one = calloc(j.npieces + 1, sizeof(uint64_t));
    uint8_t *zbuf = calloc(1, CHUNK), *zl = malloc(32 * (piece / LEAF));
    if (!j.v1 || !j.v2 || !j.one || !zbuf || !zl) {
        free(zbuf), free(zl);
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    /* the hashes of an all-zero full piece, for holes */
    EVP_MD_CTX *zs = EVP_MD_CTX_new();
    EVP_DigestInit_ex(zs, EVP_sha1(), NULL);
    for (uint64_t k = 0; k < piece; k += CHUNK)
        EVP_DigestUpdate(zs, zbuf, piece - k < CHUNK ? piece - k : CHUNK);
    EVP_DigestFinal_ex(zs, j.zero_v1, NULL);
    EVP_MD_CTX_free(zs);
    SHA256(zbuf, LEAF, zl);
    for (uint64_t k = 1; k < piece / LEAF; k++) memcpy(zl + 32 * k, zl, 32);
    uint8_t zero[32] = {0};
    ferry_merkle_fold(zl, piece / LEAF, piece / LEAF, zero, j.zero_v2);
    free(zbuf), free(zl);
    for (size_t i = 0; i < j.nent; i++) {
        const struct entry *e = &j.ent[i];
        if (e->pad || !e->size || !v2) continue;
        uint64_t first = e->off / piece, cnt = (e->size + piece - 1) / piece;
        for (uint64_t k = 0; k < cnt; k++) j.one[first + k] = cnt == 1;
    }
    ferry_parallel(o->threads ? o->threads : ferry_cpu_count(), worker, &j);
    if (o->cancel && *o->cancel) {
        rc = ferry_error_set(err, FERRY_EINTR, path, FERRY_NO_OFFSET, NULL, "interrupted");
        goto out;
    }
    if (atomic_load(&j.failed)) {
        rc = ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "%s", j.why);
        goto out;
    }
    /* file roots from their pieces */
    if (v2) {
        uint8_t pad[32]; /* root of an all-zero-leaf subtree of one piece's height */
        ferry_merkle_zero(piece / LEAF, pad);
        for (size_t i = 0; i < j.nent; i++) {
            const struct entry *e = &j.ent[i];
            if (e->pad || !e->size) continue;
            uint64_t first = e->off / piece, cnt = (e->size + piece - 1) / piece;
            if (cnt == 1)
                memcpy(roots + 32 * e->file, j.v2 + 32 * first, 32);
            else {
                uint8_t *tmp = malloc(32 * cnt);
                if (!tmp) {
                    rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
                    goto out;
                }
                memcpy(tmp, j.v2 + 32 * first, 32 * cnt);
                ferry_merkle_fold(tmp, cnt, ferry_pow2_at_least(cnt), pad, roots + 32 * e->file);
                free(tmp);
            }
            has_root[e->file] = 1;
        }
    }

    /* the metainfo, keys in byte order */
    struct ferry_bbuf *b = out;
    ferry_benc_open(b, 'd');
    if (o->ntrackers) {
        ferry_benc_cstr(b, "announce");
        ferry_benc_cstr(b, o->trackers[0]);
        if (o->ntrackers > 1) {
            ferry_benc_cstr(b, "announce-list");
            ferry_benc_open(b, 'l');
            for (size_t i = 0; i < o->ntrackers; i++) {
                ferry_benc_open(b, 'l');
                ferry_benc_cstr(b, o->trackers[i]);
                ferry_benc_close(b);
            }
            ferry_benc_close(b);
        }
    }
    if (o->creation_date) {
        ferry_benc_cstr(b, "creation date");
        ferry_benc_int(b, o->creation_date);
    }
    ferry_benc_cstr(b, "info");
    ferry_benc_open(b, 'd');
    if (v2) {
        ferry_benc_cstr(b, "file tree");
        if (single) { /* {name: {"": {...}}} */
            ferry_benc_open(b, 'd');
            put_file(b, name, strlen(name), total, roots);
            ferry_benc_close(b);
        } else {
            struct tree_ctx c = {b, &m, roots, has_root};
            put_tree(&c, 0, m.nres, 0);
        }
    }
    if (v1 && !single) {
        ferry_benc_cstr(b, "files");
        ferry_benc_open(b, 'l');
        for (size_t i = 0; i < j.nent; i++) {
            const struct entry *e = &j.ent[i];
            ferry_benc_open(b, 'd');
            if (e->pad) {
                ferry_benc_cstr(b, "attr");
                ferry_benc_cstr(b, "p");
            }
            ferry_benc_cstr(b, "length");
            ferry_benc_int(b, (int64_t)e->size);
            ferry_benc_cstr(b, "path");
            put_path_list(b, e->name);
            ferry_benc_close(b);
        }
        ferry_benc_close(b);
    }
    if (v1 && single) {
        ferry_benc_cstr(b, "length");
        ferry_benc_int(b, (int64_t)total);
    }
    if (v2) {
        ferry_benc_cstr(b, "meta version");
        ferry_benc_int(b, 2);
    }
    ferry_benc_cstr(b, "name");
    ferry_benc_cstr(b, name);
    ferry_benc_cstr(b, "piece length");
    ferry_benc_int(b, (int64_t)piece);
    if (v1) {
        ferry_benc_cstr(b, "pieces");
        ferry_benc_str(b, j.v1, 20 * j.npieces);
    }
    ferry_benc_close(b);
    if (v2) { /* layers of files over one piece, keyed by root, in file order sorted by root */
        ferry_benc_cstr(b, "piece layers");
        ferry_benc_open(b, 'd');
        struct layer *order = calloc(m.nres + 1, sizeof(*order));
        size_t nord = 0;
        for (size_t i = 0; order && i < j.nent; i++)
            if (!j.ent[i].pad && j.ent[i].size > piece) {
                memcpy(order[nord].root, roots + 32 * j.ent[i].file, 32);
                order[nord++].ent = i;
            }
        /* dict keys must be sorted: the roots, bytewise; duplicates (equal files) once */
        if (order) qsort(order, nord, sizeof(*order), by_root);
        for (size_t a = 0; a < nord; a++) {
            const struct entry *e = &j.ent[order[a].ent];
            if (a && !memcmp(order[a].root, order[a - 1].root, 32)) continue;
            ferry_benc_str(b, order[a].root, 32);
            ferry_benc_str(b, j.v2 + 32 * (e->off / piece), 32 * ((e->size + piece - 1) / piece));
        }
        free(order);
        ferry_benc_close(b);
    }
    if (o->nweb_seeds) {
        ferry_benc_cstr(b, "url-list");
        ferry_benc_open(b, 'l');
        for (size_t i = 0; i < o->nweb_seeds; i++) ferry_benc_cstr(b, o->web_seeds[i]);
        ferry_benc_close(b);
    }
    ferry_benc_close(b);
    if (b->oom) rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    plan->torrent_bytes = b->len;
out:
    for (size_t i = 0; j.ent && i < j.nent; i++)
        if (j.ent[i].fd >= 0) close(j.ent[i].fd);
    if (rc) ferry_bbuf_free(out);
    free(j.ent), free(j.v1), free(j.v2), free(j.one);
    free(roots), free(has_root), free(padname), free(name);
    ferry_manifest_free(&m);
    return rc;
}
