/* Streaming row conversion shared by every model-aware output: the writers' tensor source
 * callback, converting the rows that cover a requested byte range on all cores. */
#ifndef FERRY_CONVERT_LLAMA_STREAM_H
#define FERRY_CONVERT_LLAMA_STREAM_H

#include <signal.h>
#include "llama.h"

struct llama_stream {
    const struct ferry_llama *m;
    const struct ferry_plan_tensor *
        *plans;              /* plan of output tensor i (its perm may differ per output) */
    struct ferry_ckpt *desc; /* output description: dtype and shape of tensor i */
    unsigned threads;
    void (*progress)(void *, uint64_t);
    void *progress_ctx;
    void *user;                    /* for writer hooks */
    volatile sig_atomic_t *cancel; /* stop between chunks when set */
    const float *const *weights;   /* importance weights per column of tensor i (an imatrix
                                    * entry), NULL for none */
};

/* ferry_tensor_source over a struct llama_stream. */
int llama_stream_source(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                        struct ferry_error *err);

#endif
