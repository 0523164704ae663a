/* Persistent worker threads woken per job by a generation counter (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct pool {
    unsigned n;
    pthread_t *tid;
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    unsigned long gen;
    unsigned pending;
    int quit;
    void (*fn)(void *, unsigned, unsigned);
    void *ctx;
};

struct arg {
    struct pool *p;
    unsigned i;
};

static void *worker(void *a)
{
    struct arg *arg = a;
    struct pool *p = arg->p;
    unsigned i = arg->i;
    free(arg);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->lock);
        if (p->quit) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        seen = p->gen;
        void (*fn)(void *, unsigned, unsigned) = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->lock);
        fn(ctx, i, p->n);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

struct pool *pool_new(unsigned n)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    if (n < 1) n = 1;
    p->tid = calloc(n, sizeof(pthread_t));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
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

void pool_free(struct pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}

unsigned pool_size(const struct pool *p)
{
    return p->n;
}

void pool_run(struct pool *p, void (*fn)(void *ctx, unsigned i, unsigned n), void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->lock);
    fn(ctx, 0, p->n);
    pthread_mutex_lock(&p->lock);
    while (p->pending) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
