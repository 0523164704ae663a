/* Internals shared by the tokenizer front end (tokenizer.c) and its algorithms. */
#ifndef FERRY_INFERENCE_TOKENIZER_IMPL_H
#define FERRY_INFERENCE_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/tokenizer.h"

struct ferry_tokenizer {
    const struct ferry_vocab *v;
    struct ferry_vocab owned; /* when loaded from a file */
    int owns;
    int bpe; /* gpt2-style byte-level BPE (Llama 3) */
    int add_space_prefix;
    int32_t bos, eos, unk;
    int32_t byte_id[256]; /* <0xXX> tokens (sentencepiece) */
    /* token string -> id */
    uint64_t cap;
    int32_t *slots;
    /* merge "a b" -> rank (BPE) */
    uint64_t mcap;
    int32_t *mslots;
    /* control, user-defined and unknown tokens, longest text first (matched in prompt text) */
    int32_t *specials;
    size_t nspecials;
};

struct ids {
    int32_t *v;
    size_t n, cap;
};

int ids_push(struct ids *a, int32_t id);
int32_t tok_lookup(const struct ferry_tokenizer *t, const char *s, size_t len);
int32_t merge_rank(const struct ferry_tokenizer *t, const char *a, size_t al, const char *b,
                   size_t bl);
int spm_encode(const struct ferry_tokenizer *t, const char *text, size_t len, struct ids *out);
int bpe_encode(const struct ferry_tokenizer *t, const char *text, size_t len, struct ids *out);

#endif
