/* Internal model of a Llama checkpoint being converted: hyperparameters from config.json or
 * params.json, and a plan of output tensors, each a 2-D [rows, cols] view assembled from one or
 * more source tensors (Meta shards) with an optional row permutation (HF Q/K layout). */
#ifndef FERRY_CONVERT_LLAMA_H
#define FERRY_CONVERT_LLAMA_H

#include <stdint.h>
#include "ferry/ckpt.h"
#include "ferry/error.h"
#include "ferry/vocab.h"

enum llama_layout { LAYOUT_HF, LAYOUT_META, LAYOUT_GGUF, LAYOUT_LLAMA2C };

struct llama_hparams {
    uint32_t n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx, head_dim;
    int has_head_dim;
    float rope_theta, rms_eps;
    /* rope scaling */
    char rope_type[16]; /* "", "linear", "llama3" */
    float rope_factor, low_freq_factor, high_freq_factor;
    uint32_t orig_ctx;
    int tied;
};

enum permute { PERM_NONE, PERM_HF_TO_GGUF, PERM_GGUF_TO_HF };

struct plan_part {
    const struct ferry_tensor *t; /* source tensor */
    const struct ferry_map *map;  /* its file, to release pages once converted */
    uint64_t row0;                /* first row of this tensor's slice (llama2.c stacks layers) */
};

struct plan_tensor {
    char name[96];
    uint32_t ndim;
    uint64_t shape[4];   /* outermost first, as written */
    uint64_t rows, cols; /* 2-D view: cols = innermost dimension */
    struct plan_part parts[16];
    uint32_t nparts;
    int concat_axis; /* 0 rows, 1 cols (Meta shards) */
    enum permute perm;
    uint32_t perm_heads;
    enum ferry_dtype out;   /* written dtype */
    const float *generated; /* rope_freqs: values computed here (owned by the model) */
    /* FP8 checkpoints (fbgemm_fp8, compressed-tensors): the weight's `weight_scale`, one
     * factor per source row ([rows] or [rows, 1]) or one for the tensor; rows are multiplied */
    const struct ferry_tensor *row_scale;
};

struct llama_model {
    enum llama_layout layout;
    struct llama_hparams hp;
    struct ferry_ckpt src[16]; /* HF: src[0]; Meta: one per consolidated shard */
    uint32_t nsrc;
    struct plan_tensor *t;
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
int llama_open(struct llama_model *m, const char *path, struct ferry_error *err);
void llama_close(struct llama_model *m);

/* Reads output row r of plan tensor p as float (cols values); scratch holds at least
 * llama_source_row_bytes(p) bytes. */
int llama_read_row(const struct llama_model *m, const struct plan_tensor *p, uint64_t r, float *out,
                   uint8_t *scratch, struct ferry_error *err);
uint64_t llama_source_row_bytes(const struct plan_tensor *p);

struct ferry_convert_opts;
/* Writes a Hugging Face or Meta directory (llama_export.c). */
int llama_export(struct llama_model *m, const char *src, const char *dst,
                 const struct ferry_convert_opts *o, struct ferry_error *err);

#endif
