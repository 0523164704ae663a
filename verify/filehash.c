/* Parallel SHA-256 and BEP 52 roots (see filehash.h). */
#define _GNU_SOURCE
#include "ferry/pool.h"
#include "filehash.h"
#include "ferry/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK      (16u << 10)          /* BEP 52 leaf */
#define SEG_LEAVES 256u                 /* leaves per merkle task */
#define SEG        (BLOCK * SEG_LEAVES) /* 4 MiB */
#define BUF        (1u << 20)

enum { T_SHA, T_SEG, T_SMALL_TREE };

struct task {
    uint32_t kind;
    size_t file;
    uint64_t seg;
};

struct pool {
    struct fh_file *files;
    struct task *tasks;
    size_t ntasks;
    atomic_size_t next;
    void (*progress)(void *, uint64_t);
    void *ctx;
    pthread_mutex_t lock;
};

static int read_at(struct fh_file *f, uint8_t *buf, uint64_t off, uint64_t n)
{
    uint64_t got = 0;
    while (got < n) {
        ssize_t r = pread(f->fd, buf + got, (size_t)(n - got), (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(f->errmsg, sizeof(f->errmsg),
                     r < 0 ? "read at offset %llu: %s"
                           : "file shrank while hashing (offset %llu)%s",
                     (unsigned long long)(off + got), r < 0 ? strerror(errno) : "");
            f->failed = 1;
            return -1;
        }
        got += (uint64_t)r;
    }
    return 0;
}

static void do_sha(struct pool *p, struct fh_file *f, uint8_t *buf)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (uint64_t off = 0; off < f->size; off += BUF) {
        uint64_t n = f->size - off < BUF ? f->size - off : BUF;
        if (read_at(f, buf, off, n)) break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        if (p->progress && !f->want_btv2) p->progress(p->ctx, n);
    }
    EVP_DigestFinal_ex(ctx, f->sha256, NULL);
    EVP_MD_CTX_free(ctx);
}

/* Leaf hashes of [off, off+len) into leaves; returns the number of leaves. */
static uint64_t leaves_of(struct fh_file *f, uint64_t off, uint64_t len, uint8_t *buf,
                          uint8_t *leaves)
{
    if (read_at(f, buf, off, len)) return 0;
    uint64_t n = 0;
    for (uint64_t o = 0; o < len; o += BLOCK, n++)
        SHA256(buf + o, (size_t)(len - o < BLOCK ? len - o : BLOCK), leaves + 32 * n);
    return n;
}

static void do_segment(struct pool *p, struct fh_file *f, uint64_t seg, uint8_t *buf)
{
    uint8_t leaves[SEG_LEAVES * 32];
    uint64_t off = seg * SEG, len = f->size - off < SEG ? f->size - off : SEG;
    uint64_t n = leaves_of(f, off, len, buf, leaves);
    if (f->failed) return;
    ferry_merkle_fold(leaves, n, SEG_LEAVES, NULL, f->seg_roots + 32 * seg);
    if (p->progress) p->progress(p->ctx, len);
}

static void do_small_tree(struct pool *p, struct fh_file *f, uint8_t *buf)
{
    /* files up to one segment: the tree spans pow2(leaves) leaves */
    uint8_t leaves[SEG_LEAVES * 32];
    uint64_t n = leaves_of(f, 0, f->size, buf, leaves);
    if (f->failed) return;
    if (n == 1)
        memcpy(f->btv2, leaves, 32);
    else
        ferry_merkle_fold(leaves, n, ferry_pow2_at_least(n), NULL, f->btv2);
    f->has_btv2 = 1;
    if (p->progress) p->progress(p->ctx, f->size);
}

static void worker(void *arg, unsigned self, unsigned nthreads)
{
    (void)self, (void)nthreads; /* every thread takes items from the shared queue */
    struct pool *p = arg;
    uint8_t *buf = malloc(BUF > SEG ? BUF : SEG);
    for (;;) {
        size_t k = atomic_fetch_add(&p->next, 1);
        if (k >= p->ntasks) break;
        struct task *t = &p->tasks[k];
        struct fh_file *f = &p->files[t->file];
        if (!buf) {
            f->failed = 1;
            snprintf(f->errmsg, sizeof(f->errmsg), "out of memory");
            continue;
        }
        if (t->kind == T_SHA)
            do_sha(p, f, buf);
        else if (t->kind == T_SEG)
            do_segment(p, f, t->seg, buf);
        else
            do_small_tree(p, f, buf);
    }
    free(buf);
    return;
}

static int by_size(const void *a, const void *b, void *ctx)
{
    const struct fh_file *files = ctx;
    const struct task *x = a, *y = b;
    uint64_t sx = files[x->file].size, sy = files[y->file].size;
    if (sx != sy) return sx > sy ? -1 : 1;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return x->seg < y->seg ? -1 : x->seg > y->seg;
}

int fh_hash(struct fh_file *files, size_t n, unsigned threads,
            void (*progress)(void *ctx, uint64_t bytes), void *ctx, struct ferry_error *err)
{
    size_t ntasks = 0;
    for (size_t i = 0; i < n; i++) {
        struct fh_file *f = &files[i];
        f->failed = 0;
        f->has_btv2 = 0;
        ntasks += f->want_sha ? 1 : 0;
        if (f->want_btv2 && f->size > SEG) {
            f->nseg = (f->size + SEG - 1) / SEG;
            f->seg_roots = malloc((size_t)f->nseg * 32);
            if (!f->seg_roots)
                return ferry_error_set(err, FERRY_EINTERNAL, f->name, FERRY_NO_OFFSET, NULL, "oom");
            ntasks += (size_t)f->nseg;
        } else if (f->want_btv2 && f->size > 0) {
            ntasks++;
        }
    }
    struct pool p = {.files = files, .progress = progress, .ctx = ctx};
    p.tasks = calloc(ntasks ? ntasks : 1, sizeof(*p.tasks));
    if (!p.tasks) return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    for (size_t i = 0; i < n; i++) {
        struct fh_file *f = &files[i];
        if (f->want_sha) p.tasks[p.ntasks++] = (struct task){T_SHA, i, 0};
        if (f->want_btv2 && f->size > SEG)
            for (uint64_t s = 0; s < f->nseg; s++) p.tasks[p.ntasks++] = (struct task){T_SEG, i, s};
        else if (f->want_btv2 && f->size > 0)
            p.tasks[p.ntasks++] = (struct task){T_SMALL_TREE, i, 0};
    }
    /* biggest files first so the long sequential SHA-256 tasks start early; a file's segment
     * tasks follow its SHA task and read the same region at about the same time */
    qsort_r(p.tasks, p.ntasks, sizeof(*p.tasks), by_size, files);
    atomic_init(&p.next, 0);
    if (!threads) threads = ferry_cpu_count();
    if (threads > 256) threads = 256;
    ferry_parallel(threads < p.ntasks ? threads : (unsigned)(p.ntasks ? p.ntasks : 1), worker, &p);
    free(p.tasks);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct fh_file *f = &files[i];
        if (!f->failed && f->seg_roots) {
            /* segment roots sit 8 levels up: missing ones are roots of zero subtrees of 256 leaves
             */
            uint8_t z8[32] = {0};
            for (int k = 0; k < 8; k++) ferry_merkle_pair(z8, z8, z8);
            ferry_merkle_fold(f->seg_roots, f->nseg, ferry_pow2_at_least(f->nseg), z8, f->btv2);
            f->has_btv2 = 1;
        }
        free(f->seg_roots);
        f->seg_roots = NULL;
        if (f->failed && !rc)
            rc = ferry_error_set(err, FERRY_EIO, f->name, FERRY_NO_OFFSET, NULL, "%s", f->errmsg);
    }
    return rc;
}

int ferry_btv2_root_fd(int fd, uint64_t size, const char *name, uint8_t root[32], int *has_root,
                       struct ferry_error *err)
{
    struct fh_file f = {.name = name, .fd = fd, .size = size, .want_btv2 = 1};
    int rc = fh_hash(&f, 1, 0, NULL, NULL, err);
    if (!rc) memcpy(root, f.btv2, 32);
    *has_root = !rc && f.has_btv2;
    return rc;
}
