/* Conversion between checkpoint containers and model layouts. */
#ifndef FERRY_CONVERT_H
#define FERRY_CONVERT_H

#include <signal.h>
#include "ferry/ckpt.h"

enum ferry_container {
    FERRY_FMT_NONE = 0,
    FERRY_FMT_GGUF,
    FERRY_FMT_SAFETENSORS, /* model-aware: a Hugging Face directory */
    FERRY_FMT_PYTORCH,     /* model-aware: a Hugging Face directory with pytorch_model.bin */
    FERRY_FMT_META,        /* model-aware: a Meta directory (consolidated.00.pth, params.json) */
};

/* "gguf", "safetensors", "pytorch" (also "pt"); FERRY_FMT_NONE when unknown. */
enum ferry_container ferry_container_from_name(const char *name); /* also "meta" */
/* From an output path's extension (.gguf, .safetensors, .pt/.pth/.bin). */
enum ferry_container ferry_container_from_path(const char *path);

/* --raw: every tensor of src written unchanged (names, dtypes, shapes, bytes) into the
 * container `to`, with the source's metadata where the container can hold it and the
 * provenance keys ferry.version, ferry.source.format and ferry.convert.options. */
int ferry_convert_raw(const struct ferry_ckpt *src, const char *dst, enum ferry_container to,
                      int force, struct ferry_error *err);

struct ferry_imatrix;

struct ferry_convert_opts {
    enum ferry_container to; /* GGUF file, or a Hugging Face / Meta directory */
    const char *type;        /* GGUF: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k
                                q4_k_m q5_k_m keep (NULL = f16);
                                directories: f32 f16 bf16 keep (NULL = keep) */
    const char *name;        /* general.name; NULL = source folder name */
    int force;
    uint64_t split_max;  /* GGUF: NAME-0000k-of-0000n.gguf shards under this size (0: one file) */
    int resume;          /* GGUF: keep output shards already written with the right layout */
    uint64_t shard_size; /* Hugging Face output: safetensors shards of at most this size */
    unsigned threads;    /* 0 = all cores */
    void (*progress)(void *ctx, uint64_t bytes);
    void (*progress_total)(void *ctx, uint64_t bytes); /* called once with the bytes to write */
    void *progress_ctx;
    /* set (e.g. from a signal handler) to stop: the call returns FERRY_EINTR and removes its
     * temporary files; a split GGUF output keeps its finished shards for --resume */
    volatile sig_atomic_t *cancel;
    /* GGUF vocabulary: the source's own (refused when it has none, since llama.cpp cannot load
     * such a file), another model's or tokenizer file's with vocab_from, none at all with
     * FERRY_VOCAB_NONE, or the vocabulary without tensors with FERRY_VOCAB_ONLY */
    const char *vocab_from;
    enum ferry_vocab_mode { FERRY_VOCAB_REQUIRED = 0, FERRY_VOCAB_NONE, FERRY_VOCAB_ONLY } vocab;
    /* GGUF block types: every 2-D weight in the one type, without llama-quantize's per-tensor
     * choices (its --pure) */
    int pure;
    /* llama-quantize's overrides (block-type conversions only): output.weight and
     * token_embd.weight in these types (0: by the rules), output.weight left in its source type,
     * and PATTERN=T pairs, the first POSIX extended regular expression found in a tensor's name
     * deciding its type (rows that fit no block of T still fall back) */
    enum ferry_dtype output_type, token_embd_type;
    int leave_output;
    /* quantize tensors that are already quantized (another block type) from their dequantized
     * values; without it such a conversion is refused, as llama-quantize refuses it */
    int allow_requantize;
    const struct ferry_tensor_type {
        const char *pattern;
        enum ferry_dtype type;
    } * tensor_types;
    size_t ntensor_types;
    /* llama-quantize's --imatrix: importance weights for the quantizers that take them,
     * looked up by GGUF tensor name (a weight whose width differs from its entry's is refused,
     * token_embd.weight excepted, as llama-quantize does); recorded as its quantize.imatrix.*
     * keys with imatrix_path as the file's name. It also moves the first eighth of ffn_down to
     * Q4_1/Q5_1 in q4_0/q5_0 files, as llama-quantize does with an imatrix. */
    const struct ferry_imatrix *imatrix;
    const char *imatrix_path;
    /* GGUF: plan only: each output tensor is reported to planned (name, type, shape, bytes)
     * and nothing is read beyond the sources' headers, nothing hashed or written */
    int dry_run;
    void (*planned)(void *ctx, const char *name, enum ferry_dtype dt, uint32_t ndim,
                    const uint64_t *shape, uint64_t nbytes);
    void *planned_ctx;
};

/* Model-aware conversion of a Hugging Face directory, Meta directory or llama GGUF. To GGUF
 * as llama.cpp's converter writes it: GGUF names, Q/K rows permuted for HF sources, norms and
 * 1-D tensors in F32, hyperparameters and tokenizer as metadata, rope_freqs for llama3 rope
 * scaling, provenance keys. To a Hugging Face or Meta directory with Q/K rows in that layout,
 * dequantized. Rows are converted in parallel and streamed. */
int ferry_convert_model(const char *src, const char *dst, const struct ferry_convert_opts *o,
                        struct ferry_error *err);

/* Writes a small deterministic Llama checkpoint (config.json, model.safetensors,
 * tokenizer.model, LICENSE) into dir: 256 wide, 2 layers, 8 heads / 4 KV heads, vocab 512. */
int ferry_synth_llama(const char *dir, uint64_t seed, int force, struct ferry_error *err);

#endif
