/* Logit comparison metrics (see ferry/logit_check.h), computed in double precision. */
#include "ferry/logit_check.h"
#include "ferry/npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log-sum-exp of a row */
static double lse(const float *x, uint32_t n)
{
    double m = x[0];
    for (uint32_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    double s = 0;
    for (uint32_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    return m + log(s);
}

static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

double ferry_nll(const float *logits, uint32_t nvocab, int32_t next)
{
    return lse(logits, nvocab) - (double)logits[next];
}

void ferry_logit_stats_compute(const float *ref, const float *cand, uint32_t npos, uint32_t nvocab,
                               const int32_t *ids, struct ferry_logit_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->positions = npos;
    double kl = 0, nll_r = 0, nll_c = 0;
    uint32_t agree = 0, npred = 0;
    for (uint32_t t = 0; t < npos; t++) {
        const float *r = ref + (uint64_t)t * nvocab, *c = cand + (uint64_t)t * nvocab;
        double lr = lse(r, nvocab), lc = lse(c, nvocab), k = 0;
        for (uint32_t i = 0; i < nvocab; i++) {
            double d = fabs((double)r[i] - (double)c[i]);
            if (d > out->max_abs) out->max_abs = d;
            double pr = exp((double)r[i] - lr);
            k += pr * (((double)r[i] - lr) - ((double)c[i] - lc));
        }
        kl += k > 0 ? k : 0;
        agree += argmax(r, nvocab) == argmax(c, nvocab);
        if (ids && t + 1 < npos) {
            nll_r += lr - (double)r[ids[t + 1]];
            nll_c += lc - (double)c[ids[t + 1]];
            npred++;
        }
    }
    out->mean_kl = npos ? kl / npos : 0;
    out->top1 = npos ? (double)agree / npos : 1;
    out->ppl_ref = npred ? exp(nll_r / npred) : 0;
    out->ppl_cand = npred ? exp(nll_c / npred) : 0;
}

void ferry_check_defaults(const char *t, double *max_kl, double *min_top1)
{
    if (!strcmp(t, "F32"))
        *max_kl = 1e-6, *min_top1 = 1.0;
    else if (!strcmp(t, "F16") || !strcmp(t, "BF16"))
        *max_kl = 1e-3, *min_top1 = 0.98;
    else if (!strcmp(t, "Q8_0"))
        *max_kl = 5e-3, *min_top1 = 0.95;
    else
        *max_kl = 0.1, *min_top1 = 0.80; /* Q4/Q5 and k-quants */
}

int ferry_logits_save(const char *path, int force, const float *logits, uint64_t positions,
                      uint32_t nvocab, struct ferry_error *err)
{
    uint64_t shape[2] = {positions, nvocab};
    return ferry_npy_write(path, force, FERRY_DT_F32, 2, shape, logits, err);
}

int ferry_logits_load(const char *path, uint64_t positions, uint32_t nvocab, float **logits,
                      struct ferry_error *err)
{
    struct ferry_ckpt npy;
    ferry_ckpt_init(&npy);
    *logits = NULL;
    int rc = ferry_npy_read(&npy, path, err);
    const struct ferry_tensor *t = rc ? NULL : &npy.tensors[0];
    if (!rc && (t->dtype != FERRY_DT_F32 || t->ndim != 2 || t->shape[0] != positions ||
                t->shape[1] != nvocab))
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                             "expected float32 logits of shape [%llu, %u]",
                             (unsigned long long)positions, nvocab);
    if (!rc && !(*logits = malloc(t->nbytes ? t->nbytes : 1)))
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    if (!rc) rc = ferry_tensor_read(&npy, t, 0, t->nbytes, *logits, err);
    if (rc) {
        free(*logits);
        *logits = NULL;
    }
    ferry_ckpt_free(&npy);
    return rc;
}
