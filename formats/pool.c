/* Worker threads (see ferry/pool.h). A job is published by bumping an atomic generation;
 * workers spin briefly on it (jobs arrive every few microseconds during a forward pass, and a
 * condition-variable wake-up per matmul would cost more than many matmuls) and sleep on a
 * condition variable when idle longer. Completion is an atomic countdown the caller spins on. */
#include "ferry/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define relax() _mm_pause()
#else
#define relax() ((void)0)
#endif

#define SPINS 200000

struct ferry_pool {
    unsigned n;
    pthread_t *tid;
    pthread_mutex_t lock;
    pthread_cond_t go;
    pthread_cond_t done; /* pools that do not spin: the caller sleeps until the last worker ends */
    int spin;
    atomic_ulong gen;
    atomic_uint pending;
    atomic_uint sleeping;
    atomic_int quit;
    void (*fn)(void *, unsigned, unsigned);
    void *ctx;
};

struct arg {
    struct ferry_pool *p;
    unsigned i;
};

static void *worker(void *a)
{
    struct arg *arg = a;
    struct ferry_pool *p = arg->p;
    unsigned i = arg->i;
    free(arg);
    unsigned long seen = 0;
    for (;;) {
        unsigned long g;
        int spins = p->spin ? 0 : SPINS; /* a pool that does not spin sleeps at once */
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (atomic_load(&p->quit)) return NULL;
            if (++spins < SPINS) {
                relax();
                continue;
            }
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleeping, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->go, &p->lock);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->lock);
            spins = p->spin ? 0 : SPINS;
        }
        seen = g;
        p->fn(p->ctx, i, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release) == 1 && !p->spin) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static struct ferry_pool *pool_make(unsigned n, int spin)
{
    struct ferry_pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->spin = spin;
    pthread_cond_init(&p->done, NULL);
    if (n < 1) n = 1;
    p->tid = calloc(n, sizeof(pthread_t));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->go, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->quit, 0);
    p->n = 1;
    for (unsigned i = 1; p->tid && i < n; i++) {
        struct arg *a = malloc(sizeof(*a));
        if (!a) break;
        a->p = p;
        a->i = i;
        if (pthread_create(&p->tid[i], NULL, worker, a) != 0) {
            free(a);
            break;
        }
        p->n++;
    }
    return p;
}

void ferry_pool_free(struct ferry_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}

struct ferry_pool *ferry_pool_new(unsigned n)
{
    return pool_make(n, 1);
}

unsigned ferry_pool_size(const struct ferry_pool *p)
{
    return p->n;
}

void ferry_pool_run(struct ferry_pool *p, void (*fn)(void *ctx, unsigned i, unsigned n), void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (atomic_load(&p->sleeping)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->lock);
    }
    fn(ctx, 0, p->n);
    if (p->spin) {
        while (atomic_load_explicit(&p->pending, memory_order_acquire)) relax();
        return;
    }
    pthread_mutex_lock(&p->lock);
    while (atomic_load_explicit(&p->pending, memory_order_acquire))
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void ferry_parallel(unsigned n, void (*fn)(void *ctx, unsigned i, unsigned n), void *ctx)
{
    if (n < 1) n = 1;
    /* one job: threads that sleep rather than spin, so a thread outside the pool (a writer,
     * a digest) keeps its core while the pool's threads wait */
    struct ferry_pool *p = n > 1 ? pool_make(n, 0) : NULL;
    if (p && p->n == n) {
        ferry_pool_run(p, fn, ctx);
    } else { /* not all threads could be made: the caller does every share, in turn */
        for (unsigned i = 0; i < n; i++) fn(ctx, i, n);
    }
    ferry_pool_free(p);
}
