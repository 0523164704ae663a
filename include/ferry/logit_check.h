/* Comparing two sets of logits over the same tokens: max absolute difference, mean KL
 * divergence of the candidate from the reference, top-1 agreement and both perplexities. */
#ifndef FERRY_LOGIT_CHECK_H
#define FERRY_LOGIT_CHECK_H

#include <stdint.h>
#include "ferry/error.h"

struct ferry_logit_stats {
    double max_abs, mean_kl, top1, ppl_ref, ppl_cand;
    uint32_t positions;
};

/* ref and cand are [npos][nvocab]; ids (npos tokens) give the perplexities (position t
 * predicts ids[t+1]). */
void ferry_logit_stats_compute(const float *ref, const float *cand, uint32_t npos, uint32_t nvocab,
                               const int32_t *ids, struct ferry_logit_stats *out);

/* Negative log-likelihood of token `next` under logits (natural log). */
double ferry_nll(const float *logits, uint32_t nvocab, int32_t next);

/* Default tolerances of SPEC 11 by the candidate's weight type name ("F16", "Q8_0", ...). */
void ferry_check_defaults(const char *weight_type, double *max_kl, double *min_top1);

/* Logits as .npy files (float32, [positions, vocab]), as `ferry logits` writes them and
 * `ferry check --expect` reads them. Save refuses to replace unless force; load checks the
 * dtype and shape (65 otherwise) and gives a buffer the caller frees. */
int ferry_logits_save(const char *path, int force, const float *logits, uint64_t positions,
                      uint32_t nvocab, struct ferry_error *err);
int ferry_logits_load(const char *path, uint64_t positions, uint32_t nvocab, float **logits,
                      struct ferry_error *err);

#endif
