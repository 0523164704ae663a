/* Streaming read bandwidth of this machine now, for bench/inference.py: THREADS threads each
 * sum their share of a 512 MiB buffer five times. Prints GB/s. Built by the bench with
 * cc -O2 -march=native; not part of ferry. usage: membw THREADS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIZE (512ull << 20)
#define REPS 5

static uint64_t *buf;
static unsigned nthreads;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef uint64_t v8 __attribute__((vector_size(64))); /* one cache line */

static void *reader(void *arg)
{
    size_t i = (size_t)arg, per = SIZE / 64 / nthreads; /* cache lines */
    const v8 *p = (const v8 *)(const void *)buf + per * i;
    v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (int r = 0; r < REPS; r++)
        for (size_t k = 0; k + 4 <= per; k += 4) {
            for (int a = 0; a < 4; a++) __builtin_prefetch(p + k + 96 + a); /* 6 KiB ahead */
            s0 += p[k], s1 += p[k + 1], s2 += p[k + 2], s3 += p[k + 3];
        }
    v8 s = s0 ^ s1 ^ s2 ^ s3;
    return (void *)(uintptr_t)s[0];
}

int main(int argc, char **argv)
{
    nthreads = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
    if (nthreads < 1 || nthreads > 64 || !(buf = aligned_alloc(4096, SIZE))) return 1;
    memset(buf, 1, SIZE);
    pthread_t t[64];
    double t0 = now();
    for (size_t i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, reader, (void *)i);
    for (size_t i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    printf("%.1f\n", (double)REPS * SIZE / (now() - t0) / 1e9);
    free(buf);
    return 0;
}
