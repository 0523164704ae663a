/* Tokenizer vocabularies as GGUF stores them (tokens, scores, token types, merges) and the
 * converters that produce them from sentencepiece tokenizer.model and tokenizer.json. */
#ifndef FERRY_VOCAB_H
#define FERRY_VOCAB_H

#include <stdint.h>
#include "ferry/ckpt.h"
#include "ferry/error.h"

enum {
    FERRY_TOK_NORMAL = 1,
    FERRY_TOK_UNKNOWN = 2,
    FERRY_TOK_CONTROL = 3,
    FERRY_TOK_USER_DEFINED = 4,
    FERRY_TOK_UNUSED = 5,
    FERRY_TOK_BYTE = 6
};

struct ferry_vocab {
    const char *model; /* "llama" (sentencepiece) or "gpt2" (byte-level BPE) */
    const char *pre;   /* "default", "llama-bpe" */
    uint64_t n;
    struct ferry_str *tokens;
    float *scores; /* NULL for BPE */
    int32_t *types;
    struct ferry_str *merges; /* BPE only */
    uint64_t nmerges;
    int64_t bos, eos, unk, pad; /* -1 when absent */
    int add_bos, add_eos;
};

void ferry_vocab_free(struct ferry_vocab *v);

/* sentencepiece ModelProto (tokenizer.model): pieces, scores and types as llama.cpp's converter
 * records them (user-defined pieces count as normal). vocab_size > 0 pads with [PADn] tokens. */
int ferry_vocab_from_spm(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                         struct ferry_error *err);

/* Writes a sentencepiece ModelProto holding just the pieces (enough for ferry and
 * llama.cpp's converter; no trainer or normalizer specs). */
int ferry_vocab_write_spm(const struct ferry_str *tokens, const float *scores, const int32_t *types,
                          uint64_t n, const char *path, int force, struct ferry_error *err);

/* Hugging Face tokenizer.json with a BPE model (Llama 3): tokens by id, merges, added tokens as
 * control tokens. */
int ferry_vocab_from_tokenizer_json(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                                    struct ferry_error *err);

/* Refuses a vocabulary ferry cannot use safely: no tokens, more than 2^31-1, or a bos, eos,
 * unknown or padding id outside it (-1 means absent). file names the source in the error. */
int ferry_vocab_check(const struct ferry_vocab *v, const char *file, struct ferry_error *err);

/* The vocabulary held in tokenizer.ggml.* keys (checked as above); 1 (no error) when ck has
 * none. */
int ferry_vocab_from_kvs(const struct ferry_ckpt *ck, struct ferry_vocab *v,
                         struct ferry_error *err);

/* Meta's Llama 3 tokenizer.model (tiktoken text): tokens in the byte-level alphabet, the 256
 * special tokens after them, and merges derived from the ranks. */
int ferry_vocab_from_tiktoken(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                              struct ferry_error *err);
/* 1 when a tokenizer.model is tiktoken text rather than a sentencepiece protobuf. */
int ferry_vocab_is_tiktoken(const char *path);
/* Bytes in GPT-2's byte-level alphabet (out holds 2n+1 bytes); returns the length. */
int ferry_bytes_to_bpe_text(const uint8_t *b, size_t n, char *out);

/* llama2.c tokenizer.bin: tokens and scores; ids 0-2 are <unk>, <s>, </s>. */
int ferry_vocab_from_llama2c(const char *path, struct ferry_vocab *v, struct ferry_error *err);
/* The vocabulary in path, whatever holds it: a model directory, a GGUF file, tokenizer.json,
 * a sentencepiece or tiktoken tokenizer.model, a llama2.c tokenizer.bin; checked with
 * ferry_vocab_check. vocab_size > 0 pads to that many tokens where the format allows. */
int ferry_vocab_load(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                     struct ferry_error *err);

/* Tokenizer files from a vocabulary (a model converted out of GGUF keeps its tokenizer):
 * tokenizer.json of a byte-level BPE vocabulary (Llama 3's pre-tokenizer), Meta's tiktoken
 * tokenizer.model of one, and for Hugging Face directories tokenizer_config.json,
 * special_tokens_map.json and generation_config.json naming bos/eos. */
int ferry_vocab_write_tokenizer_json(const struct ferry_vocab *v, const char *path, int force,
                                     struct ferry_error *err);
int ferry_vocab_write_tiktoken(const struct ferry_vocab *v, const char *path, int force,
                               struct ferry_error *err);
int ferry_vocab_write_hf_configs(const struct ferry_vocab *v, const char *dir, uint64_t max_len,
                                 int force, struct ferry_error *err);

/* Appends the tokenizer.ggml.* keys of v to ck. */
int ferry_vocab_to_kvs(const struct ferry_vocab *v, struct ferry_ckpt *ck, struct ferry_error *err);

#endif
