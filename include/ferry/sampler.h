/* Token sampling: greedy at temperature 0, else temperature, top-k and top-p (nucleus) with a
 * seeded generator, deterministic for a seed. */
#ifndef FERRY_SAMPLER_H
#define FERRY_SAMPLER_H

#include <stdint.h>

struct ferry_sampler {
    float temp, top_p;
    uint32_t top_k;
    uint64_t state;
};

/* temp 0 is greedy; top_k 0 and top_p 1 turn those filters off; the same seed gives the same
 * tokens. Owns nothing. */
void ferry_sampler_init(struct ferry_sampler *s, float temp, uint32_t top_k, float top_p,
                        uint64_t seed);
/* Picks a token from n logits (modified in place). */
int32_t ferry_sample(struct ferry_sampler *s, float *logits, uint32_t n);

#endif
