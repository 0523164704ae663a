/* A Llama checkpoint read as a plan of GGUF-named tensors: hyperparameters from config.json,
 * params.json or GGUF metadata, and each output tensor a 2-D [rows, cols] view assembled from
 * one or more source tensors (Meta shards) with an optional row permutation (Hugging Face Q/K
 * layout), read row by row as float. The conversion and the forward pass both read models
 * through it. */
#ifndef FERRY_LLAMA_H
#define FERRY_LLAMA_H

#include <stdint.h>
#include "ferry/ckpt.h"
#include "ferry/error.h"
#include "ferry/vocab.h"

enum ferry_llama_layout {
    FERRY_LAYOUT_HF,
    FERRY_LAYOUT_META,
    FERRY_LAYOUT_GGUF,
    FERRY_LAYOUT_LLAMA2C
};

struct ferry_llama_hparams {
    uint32_t n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx, head_dim;
    int has_head_dim;
    float rope_theta, rms_eps;
    /* rope scaling */
    char rope_type[16]; /* "", "linear", "llama3" */
    float rope_factor, low_freq_factor, high_freq_factor;
    uint32_t orig_ctx;
    int tied;
};

enum ferry_permute { FERRY_PERM_NONE, FERRY_PERM_HF_TO_GGUF, FERRY_PERM_GGUF_TO_HF };

struct ferry_plan_part {
    const struct ferry_tensor *t; /* source tensor */
    const struct ferry_map *map;  /* its file, to release pages once converted */
    uint64_t row0;                /* first row of this tensor's slice (llama2.c stacks layers) */
};

struct ferry_plan_tensor {
    char name[96];
    uint32_t ndim;
    uint64_t shape[4];   /* outermost first, as written */
    uint64_t rows, cols; /* 2-D view: cols = innermost dimension */
    struct ferry_plan_part parts[16];
    uint32_t nparts;
    int concat_axis; /* 0 rows, 1 cols (Meta shards) */
    enum ferry_permute perm;
    uint32_t perm_heads;
    enum ferry_dtype out;   /* written dtype */
    const float *generated; /* rope_freqs: values computed here (owned by the model) */
    /* FP8 checkpoints (fbgemm_fp8, compressed-tensors): the weight's `weight_scale`, one
     * factor per source row ([rows] or [rows, 1]) or one for the tensor; rows are multiplied */
    const struct ferry_tensor *row_scale;
};

struct ferry_llama {
    enum ferry_llama_layout layout;
    struct ferry_llama_hparams hp;
    struct ferry_ckpt src[16]; /* HF: src[0]; Meta: one per consolidated shard */
    uint32_t nsrc;
    struct ferry_plan_tensor *t;
    uint64_t nt;
    struct ferry_vocab vocab;
    int has_vocab;
    int vocab_borrowed; /* m->vocab came from --vocab-from, not the source */
    char name[256];
    char source_format[16];
    float *rope_freqs;
    char license_path[4096];
};

/* Opens a HF directory, Meta directory or GGUF file and plans its tensors in GGUF naming. */
int ferry_llama_open(struct ferry_llama *m, const char *path, struct ferry_error *err);
void ferry_llama_close(struct ferry_llama *m);

/* Reads output row r of plan tensor p as float (cols values); scratch holds at least
 * ferry_llama_source_row_bytes(p) bytes. */
int ferry_llama_read_row(const struct ferry_llama *m, const struct ferry_plan_tensor *p, uint64_t r,
                         float *out, uint8_t *scratch, struct ferry_error *err);
uint64_t ferry_llama_source_row_bytes(const struct ferry_plan_tensor *p);

#endif
