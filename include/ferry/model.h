/* The reference forward pass: a Llama model loaded from any input ferry converts (Hugging Face
 * or Meta directory, GGUF, llama2.c .bin) with weights used in place where their type is
 * computed natively, evaluated in float32 with a KV cache. */
#ifndef FERRY_MODEL_H
#define FERRY_MODEL_H

#include <stdint.h>
#include "ferry/error.h"
#include "ferry/vocab.h"

struct ferry_model;

struct ferry_model_info {
    uint32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    uint32_t n_ctx;          /* the model's context length */
    uint32_t n_ctx_alloc;    /* positions the KV cache holds */
    int rope_neox;           /* 1: rotate-half (Hugging Face layout), 0: interleaved pairs */
    const char *weight_type; /* file dtype of the attention weights, e.g. "Q8_0" */
};

/* ctx = 0: min(model context, 4096). threads = 0: all cores. */
int ferry_model_load(struct ferry_model **out, const char *path, uint32_t ctx, unsigned threads,
                     struct ferry_error *err);
void ferry_model_free(struct ferry_model *m);
const struct ferry_model_info *ferry_model_get_info(const struct ferry_model *m);
/* The model's vocabulary (NULL when the source has none). */
const struct ferry_vocab *ferry_model_vocab(const struct ferry_model *m);

/* Called during ferry_model_eval, when set, with the input of every weight matrix product
 * before it is computed: the weight's GGUF name ("blk.0.attn_q.weight"), T rows of cols
 * activations. On the evaluating thread; NULL fn removes it. */
typedef void (*ferry_model_observer)(void *ctx, const char *weight, const float *x, uint32_t T,
                                     uint64_t cols);
void ferry_model_set_observer(struct ferry_model *m, ferry_model_observer fn, void *ctx);

/* Runs tokens[0..n) at positions pos..pos+n-1 (earlier positions must be in the cache) as one
 * batch. logits gets n_vocab values for the last token, or n * n_vocab with all != 0. */
int ferry_model_eval(struct ferry_model *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                     float *logits, int all, struct ferry_error *err);
/* The same with the logits of tokens[from..n) only, (n - from) * n_vocab values (from < n):
 * the output matrix, the largest, is not applied to the tokens before. */
int ferry_model_eval_from(struct ferry_model *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                          uint32_t from, float *logits, struct ferry_error *err);

#endif
