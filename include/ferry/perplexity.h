/* Perplexity and KL divergence over a text as llama-perplexity computes them: the tokens (BOS
 * first) cut into chunks of ctx tokens, each evaluated from position 0 with its first token
 * replaced by BOS, and only the second half of each chunk scored (every scored token sees at
 * least ctx/2 tokens before it). With a base file (llama-perplexity's --kl-divergence-base
 * format: "_logits_", ctx, vocab, chunks, the tokens, then per scored position the log-probs
 * of the reference as 16-bit steps between its minimum and maximum), a later run of another
 * model over the same tokens reports its KL divergence from that reference. */
#ifndef FERRY_PERPLEXITY_H
#define FERRY_PERPLEXITY_H

#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ferry_model;

struct ferry_ppl_opts {
    uint32_t ctx;         /* tokens per chunk (llama-perplexity's -c), at least 8 */
    uint32_t max_chunks;  /* 0: every whole chunk */
    int32_t bos;          /* the first token of every chunk, -1 to keep the text's; with base_in, a
                           * negative bos takes the base file's first token (its BOS) */
    const char *base_out; /* write the reference's log-probs here (--kl-divergence-base) */
    const char *base_in;  /* compare with this reference; its tokens are used, not the text's */
    int force;            /* replace an existing base_out */
    /* after each chunk: its number (from 1), the chunks in all and the perplexity so far */
    void (*chunk)(void *ctx, uint32_t done, uint32_t chunks, double ppl);
    void *chunk_ctx;
};

struct ferry_ppl_result {
    double ppl, ppl_err; /* exp(mean NLL) and its standard error, as llama-perplexity prints */
    uint64_t count;      /* tokens scored */
    uint32_t chunks, ctx;
    int kld; /* 1: the fields below are filled (base_in given) */
    double ppl_base, ppl_base_err, cor_ln_ppl, mean_ln_ratio, mean_ln_ratio_err;
    double kld_mean, kld_err, kld_max, kld_p999, kld_p99, kld_p90, kld_median, kld_p10, kld_p1,
        kld_min;
    double dp_rms, same_top; /* RMS of p - p_base of the scored token; share of equal top-1 */
};

/* tokens/ntokens: the text tokenized with BOS first (ignored with base_in). At least two chunks
 * are needed, as llama-perplexity needs them (FERRY_EUSAGE). A base file that does not match
 * the model (vocabulary) or is cut short is refused (FERRY_EMALFORMED). */
int ferry_perplexity(struct ferry_model *m, const int32_t *tokens, uint64_t ntokens,
                     const struct ferry_ppl_opts *o, struct ferry_ppl_result *r,
                     struct ferry_error *err);

/* The context a base file was written with (to load the model with room for it), its header
 * checked against its size first (FERRY_EMALFORMED). */
int ferry_perplexity_base_ctx(const char *path, uint32_t *ctx, struct ferry_error *err);

#ifdef __cplusplus
}
#endif

#endif
