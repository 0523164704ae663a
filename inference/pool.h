/* A persistent thread pool: pool_run calls fn(ctx, i, n) on n threads (the caller is thread 0)
 * and returns when all are done. */
#ifndef FERRY_INFERENCE_POOL_H
#define FERRY_INFERENCE_POOL_H

struct pool;

struct pool *pool_new(unsigned n);
void pool_free(struct pool *p);
unsigned pool_size(const struct pool *p);
void pool_run(struct pool *p, void (*fn)(void *ctx, unsigned i, unsigned n), void *ctx);

#endif
