/* llama2.c checkpoints: the legacy v0 .bin (7 int32 header, F32 weights) and tokenizer.bin. */
#ifndef FERRY_LLAMA2C_H
#define FERRY_LLAMA2C_H

#include "ferry/ckpt.h"

struct ferry_llama2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared_classifier; /* vocab_size >= 0 in the file */
};

/* Reads a .bin into ck: the header as llama2c.* int32 kvs, tensors stacked per layer
 * (e.g. "wq" is [n_layers, dim, dim]); file size must match the header exactly. */
int ferry_llama2c_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);
int ferry_llama2c_read_config(const struct ferry_ckpt *ck, struct ferry_llama2c_config *cfg);

/* Reads tokenizer.bin: int32 max_token_length, then per token float score, int32 length,
 * bytes. Adds kvs tokenizer.ggml.tokens (string array) and tokenizer.ggml.scores. */
int ferry_llama2c_tokenizer_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

#endif
