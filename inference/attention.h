/* Attention of a few queries at once against one KV head of the cache. Keys are kept in blocks
 * of 16 positions with the 16 positions of one head dimension side by side, so the scores of 16
 * positions are one vector of products and sums, with no horizontal reduction; values stay one
 * position after another. The scratch is linear in the context: one row of scores per query. */
#ifndef FERRY_INFERENCE_ATTENTION_H
#define FERRY_INFERENCE_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#define KERN_ATTEND_MAX 4 /* queries per call */

/* Positions a key cache of n positions holds: n rounded up to whole blocks. */
static inline uint32_t kern_kblocks_len(uint32_t n)
{
    return (n + 15) / 16 * 16;
}

/* Stores the key k[hd] of position p into the blocked keys kt of one head. */
void kern_store_key(float *kt, uint32_t hd, uint32_t p, const float *k);

struct kern_attend_args {
    uint32_t nq;                     /* 1..KERN_ATTEND_MAX */
    const float *q[KERN_ATTEND_MAX]; /* each hd floats */
    uint32_t npos[KERN_ATTEND_MAX];  /* query j sees positions 0..npos[j]-1 (at least 1) */
    float *out[KERN_ATTEND_MAX];     /* each hd floats */
    const float *kt;                 /* the head's blocked keys */
    const float *v;                  /* value of position p at v + p * vstride */
    uint64_t vstride;
    uint32_t hd;
    float scale;
};

/* Floats of scratch kern_attend needs for queries seeing at most npos positions. */
static inline size_t kern_attend_scratch(uint32_t npos)
{
    return (size_t)KERN_ATTEND_MAX * kern_kblocks_len(npos);
}

/* out[j] = sum_p softmax_p(q[j] . k_p * scale) v_p over p < npos[j], for each query j. */
void kern_attend(const struct kern_attend_args *a, float *scratch);
/* The same, always the portable version (tests compare the two). */
void kern_attend_portable(const struct kern_attend_args *a, float *scratch);

#endif
