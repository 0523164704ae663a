/* Text generation with the reference forward pass: the prompt evaluated in one batch, then one
 * token at a time sampled and fed back, until a stop token, the token budget or the context's
 * end. Each new token is handed to a callback as it is made (to stream it). */
#ifndef FERRY_GENERATE_H
#define FERRY_GENERATE_H

#include <stdint.h>
#include "ferry/error.h"
#include "ferry/model.h"
#include "ferry/sampler.h"

struct ferry_generate_opts {
    uint32_t max_tokens;
    struct ferry_sampler *sampler;
    const int32_t *stop; /* tokens that end the generation (EOS, <|eot_id|>); kept in the output */
    unsigned nstop;
    /* called with each token as it is made; may be NULL */
    void (*on_token)(void *ctx, int32_t id);
    void *ctx;
};

struct ferry_generate_result {
    int32_t *tokens; /* the generated ids, caller frees */
    uint32_t n;
    double prompt_seconds, gen_seconds;
    enum { FERRY_GEN_BUDGET, FERRY_GEN_STOP_TOKEN, FERRY_GEN_CONTEXT_FULL } why; /* it ended */
};

/* Generates from the n prompt tokens, evaluated from position 0 of m's cache. 0 with r filled,
 * or a FERRY_E* code: FERRY_EUSAGE for an empty prompt, FERRY_EINTERNAL out of memory, or the
 * forward pass's error (a prompt longer than the context among them), with the tokens made
 * until then in r. The caller frees r->tokens in every case (NULL when nothing was made). */
int ferry_generate(struct ferry_model *m, const int32_t *prompt, uint32_t n,
                   const struct ferry_generate_opts *o, struct ferry_generate_result *r,
                   struct ferry_error *err);

#endif
