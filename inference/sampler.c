/* Sampling (see ferry/sampler.h). The generator is xorshift64*, so a seed gives the same tokens
 * on every machine; ties in the sort keep the lower id first. */
#include "ferry/sampler.h"

#include <math.h>
#include <stdlib.h>

void ferry_sampler_init(struct ferry_sampler *s, float temp, uint32_t top_k, float top_p,
                        uint64_t seed)
{
    s->temp = temp;
    s->top_k = top_k;
    s->top_p = top_p;
    s->state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static float next_unit(struct ferry_sampler *s)
{
    s->state ^= s->state >> 12;
    s->state ^= s->state << 25;
    s->state ^= s->state >> 27;
    return (float)((s->state * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

struct cand {
    float p;
    int32_t id;
};

static int by_prob(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

int32_t ferry_sample(struct ferry_sampler *s, float *logits, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->temp <= 0) return (int32_t)best;
    struct cand *c = malloc(n * sizeof(*c));
    if (!c) return (int32_t)best;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        c[i].p = expf((logits[i] - logits[best]) / s->temp);
        c[i].id = (int32_t)i;
        sum += c[i].p;
    }
    for (uint32_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
    qsort(c, n, sizeof(*c), by_prob);
    uint32_t keep = s->top_k && s->top_k < n ? s->top_k : n;
    double cum = 0, mass = 0;
    uint32_t k = 0;
    for (; k < keep; k++) {
        cum += c[k].p;
        if (s->top_p > 0 && s->top_p < 1 && cum >= s->top_p) {
            k++;
            break;
        }
    }
    for (uint32_t i = 0; i < k; i++) mass += c[i].p;
    double r = next_unit(s) * mass, acc = 0;
    int32_t id = c[k - 1].id;
    for (uint32_t i = 0; i < k; i++) {
        acc += c[i].p;
        if (r < acc) {
            id = c[i].id;
            break;
        }
    }
    free(c);
    return id;
}
