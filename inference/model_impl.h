/* Internals of struct ferry_model shared by the loader (model.c) and the forward pass
 * (forward.c). */
#ifndef FERRY_INFERENCE_MODEL_IMPL_H
#define FERRY_INFERENCE_MODEL_IMPL_H

#include "ferry/llama.h"
#include "ferry/model.h"
#include "kernels.h"
#include "ferry/pool.h"

struct layer {
    struct weight attn_norm, q, k, v, o, ffn_norm, gate, up, down;
};

struct ferry_model {
    char *path;
    struct ferry_llama lm;
    struct ferry_model_info info;
    struct weight embd, out, out_norm;
    struct layer *layers;
    double *freqs; /* per rotary pair j: base^(-2j/d), scaled */
    float *kcache; /* [layer][kv head][blocks of 16 positions][head_dim][16] (attention.h) */
    float *vcache; /* [layer][position][kv_dim], positions rounded up as for kcache */
    struct ferry_pool *pool;
    ferry_model_observer observe; /* sees each weight's input (ferry_model_set_observer) */
    void *observe_ctx;
};

#endif
