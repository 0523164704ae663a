/* The one thread pool of libferry: n threads (the caller is thread 0) run fn(ctx, i, n) and
 * the call returns when all are done. A persistent pool serves a forward pass's thousands of
 * small jobs (workers spin briefly before sleeping); ferry_parallel runs one job on a pool made
 * for it, for the fan-outs of hashing, verification and conversion. */
#ifndef FERRY_POOL_H
#define FERRY_POOL_H

struct ferry_pool;

/* A pool of n threads (fewer when threads cannot be created; at least the caller). */
struct ferry_pool *ferry_pool_new(unsigned n);
void ferry_pool_free(struct ferry_pool *p);
unsigned ferry_pool_size(const struct ferry_pool *p);
void ferry_pool_run(struct ferry_pool *p, void (*fn)(void *ctx, unsigned i, unsigned n), void *ctx);

/* fn(ctx, i, n) on n threads at once, i = 0..n-1 (n at least 1); when threads cannot be made,
 * the caller runs every i itself, so no share of the work is lost. */
void ferry_parallel(unsigned n, void (*fn)(void *ctx, unsigned i, unsigned n), void *ctx);

#endif
