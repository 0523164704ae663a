/* Comparing two sets of logits over the same tokens: max absolute difference, mean KL
 * divergence of the candidate from the reference, top-1 agreement and both perplexities. */
#ifndef FERRY_LOGIT_CHECK_H
#define FERRY_LOGIT_CHECK_H

#include <stdint.h>

struct ferry_logit_stats {
    double max_abs, mean_kl, top1, ppl_ref, ppl_cand;
    uint32_t positions;
};

/* ref and cand are [npos][nvocab]; ids (npos tokens) give the perplexities (position t
 * predicts ids[t+1]). */
void ferry_logit_stats(const float *ref, const float *cand, uint32_t npos, uint32_t nvocab,
                       const int32_t *ids, struct ferry_logit_stats *out);

/* Negative log-likelihood of token `next` under logits (natural log). */
double ferry_nll(const float *logits, uint32_t nvocab, int32_t next);

/* Default tolerances of SPEC 11 by the candidate's weight type name ("F16", "Q8_0", ...). */
void ferry_check_defaults(const char *weight_type, double *max_kl, double *min_top1);

#endif
