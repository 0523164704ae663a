/* Per-tensor SHA-256 for `inspect --hash`: contiguous tensors are hashed straight from the
 * mapping; strided or byte-swapped ones through a bounded gather buffer. Workers take the next
 * tensor from a shared counter, largest first so the tail stays short. */
#define _GNU_SOURCE
#include "ferry/pool.h"
#include "ferry/hash.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GATHER (1u << 20)
#define SLICE  (16u << 20)

struct job {
    const struct ferry_ckpt *ck;
    uint8_t (*out)[32];
    uint64_t *order;
    atomic_uint_fast64_t next;
    atomic_int failed;
    struct ferry_error *err;
    pthread_mutex_t lock;
};

unsigned ferry_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int hash_one(const struct ferry_ckpt *ck, const struct ferry_tensor *t, uint8_t *md,
                    uint8_t *buf, struct ferry_error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = 0;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, t->name, "EVP init");
        goto out;
    }
    if (t->contiguous && !t->byteswap) {
        /* hash straight from the mapping in slices, releasing each slice afterwards so the
         * resident set stays bounded whatever the model size */
        const struct ferry_map *m = &ck->files[t->file];
        for (uint64_t o = 0; o < t->nbytes; o += SLICE) {
            uint64_t n = t->nbytes - o < SLICE ? t->nbytes - o : SLICE;
            EVP_DigestUpdate(ctx, t->data + o, (size_t)n);
            ferry_map_done(m, t->offset + o, n);
        }
    } else {
        uint32_t es = ferry_dtype_elem_size(t->dtype);
        uint64_t step = es ? GATHER / es * es : GATHER;
        for (uint64_t o = 0; o < t->nbytes && !rc; o += step) {
            uint64_t n = t->nbytes - o < step ? t->nbytes - o : step;
            rc = ferry_tensor_read(ck, t, o, n, buf, err);
            if (!rc) EVP_DigestUpdate(ctx, buf, (size_t)n);
        }
    }
    if (!rc) EVP_DigestFinal_ex(ctx, md, NULL);
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

static void worker(void *arg, unsigned self, unsigned nthreads)
{
    (void)self, (void)nthreads; /* every thread takes items from the shared queue */
    struct job *j = arg;
    uint8_t *buf = malloc(GATHER);
    struct ferry_error local;
    ferry_error_clear(&local);
    for (;;) {
        uint64_t k = atomic_fetch_add(&j->next, 1);
        if (k >= j->ck->ntensors || atomic_load(&j->failed)) break;
        uint64_t i = j->order[k];
        int rc = buf ? hash_one(j->ck, &j->ck->tensors[i], j->out[i], buf, &local)
                     : ferry_error_set(&local, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
        if (rc) {
            pthread_mutex_lock(&j->lock);
            if (!atomic_exchange(&j->failed, 1) && j->err) *j->err = local;
            pthread_mutex_unlock(&j->lock);
            break;
        }
    }
    free(buf);
    return;
}

static int by_size_desc(const void *a, const void *b, void *ctx)
{
    const struct ferry_ckpt *ck = ctx;
    uint64_t x = ck->tensors[*(const uint64_t *)a].nbytes;
    uint64_t y = ck->tensors[*(const uint64_t *)b].nbytes;
    if (x != y) return x > y ? -1 : 1;
    return *(const uint64_t *)a < *(const uint64_t *)b ? -1 : 1;
}

int ferry_hash_tensors(const struct ferry_ckpt *ck, unsigned threads, uint8_t (*out)[32],
                       struct ferry_error *err)
{
    if (!threads) threads = ferry_cpu_count();
    if (threads > 256) threads = 256;
    if (ck->ntensors && threads > ck->ntensors) threads = (unsigned)ck->ntensors;
    struct job j = {.ck = ck, .out = out, .err = err};
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    pthread_mutex_init(&j.lock, NULL);
    j.order = malloc((ck->ntensors ? ck->ntensors : 1) * sizeof(uint64_t));
    if (!j.order)
        return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory");
    for (uint64_t i = 0; i < ck->ntensors; i++) j.order[i] = i;
    qsort_r(j.order, (size_t)ck->ntensors, sizeof(uint64_t), by_size_desc, (void *)ck);
    ferry_parallel(threads, worker, &j);
    pthread_mutex_destroy(&j.lock);
    free(j.order);
    return atomic_load(&j.failed) ? (err ? err->code : FERRY_EINTERNAL) : 0;
}
