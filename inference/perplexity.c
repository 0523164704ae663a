/* Perplexity and KL divergence as llama-perplexity computes them (include/ferry/perplexity.h):
 * chunks from position 0 with BOS first, the second half of each scored, and the reference's
 * log-probs saved or compared in its --kl-divergence-base file format. */
#include "ferry/perplexity.h"
#include "ferry/ckd.h"
#include "ferry/file.h"
#include "ferry/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* sums over the scored tokens; the per-token KL and p - p_base kept for the percentiles */
struct sums {
    double nll, nll2, nll_base, nll_base2, nll_nll_base, kld, kld2, dp2, dp4;
    uint64_t count, same_top;
    float *kld_values;
};

static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* one position's reference record (nv uint16: scale and minimum log-prob as two floats, then
 * the log-probs as steps above the minimum, those more than 16 below the top as 0); returns
 * the NLL of tok */
static double base_record(const float *logits, uint32_t nvocab, int32_t tok, uint16_t *rec)
{
    float max = logits[0], min = logits[0];
    for (uint32_t i = 1; i < nvocab; i++) {
        max = fmaxf(max, logits[i]);
        min = fminf(min, logits[i]);
    }
    min = fmaxf(min, max - 16);
    double sum = 0;
    for (uint32_t i = 0; i < nvocab; i++) sum += expf(logits[i] - max);
    float lse = (float)log(sum), min_lp = min - max - lse, scale = (max - min) / 65535.f;
    memcpy(rec, &scale, 4);
    memcpy(rec + 2, &min_lp, 4);
    uint16_t *lp = rec + 4;
    if (scale != 0) {
        float inv = 1 / scale;
        for (uint32_t i = 0; i < nvocab; i++)
            lp[i] = logits[i] > min ? (uint16_t)nearest_int(inv * (logits[i] - min)) : 0;
    } else {
        memset(lp, 0, nvocab * sizeof(uint16_t));
    }
    return max + lse - logits[tok];
}

/* one position against the reference's record: NLLs, KL(base || model), p of tok, top-1 */
static void compare_record(const float *logits, uint32_t nvocab, int32_t tok, const uint8_t *rec,
                           struct sums *s)
{
    float max = logits[0], scale, min_lp;
    uint32_t imax = 0;
    for (uint32_t i = 1; i < nvocab; i++)
        if (logits[i] > max) max = logits[i], imax = i;
    double se = 0;
    for (uint32_t i = 0; i < nvocab; i++) se += expf(logits[i] - max);
    float lse = (float)log(se);
    memcpy(&scale, rec, 4);
    memcpy(&min_lp, rec + 4, 4);
    const uint8_t *lp = rec + 8;
    uint16_t q;
    memcpy(&q, lp + 2 * (size_t)tok, 2);
    float nll = max + lse - logits[tok], nll_base = -(scale * q + min_lp);
    double kl = 0;
    uint32_t imax_base = 0;
    float best = 0;
    for (uint32_t i = 0; i < nvocab; i++) {
        memcpy(&q, lp + 2 * (size_t)i, 2);
        float lpb = scale * q + min_lp;
        if (i == 0 || lpb > best) best = lpb, imax_base = i;
        if (lpb > -16.f) kl += expf(lpb) * (lpb - logits[i] + max + lse);
    }
    float dp = expf(-nll) - expf(-nll_base);
    s->nll += nll, s->nll2 += (double)nll * nll;
    s->nll_base += nll_base, s->nll_base2 += (double)nll_base * nll_base;
    s->nll_nll_base += (double)nll * nll_base;
    s->kld += kl, s->kld2 += kl * kl;
    s->dp2 += (double)dp * dp, s->dp4 += (double)dp * dp * dp * dp;
    s->same_top += imax == imax_base;
    s->kld_values[s->count++] = (float)kl;
}

/* mean of a per-token quantity and its standard error (llama-perplexity's) */
static void mean_err(double sum, double sum2, uint64_t n, double *mean, double *err)
{
    *mean = n ? sum / (double)n : 0;
    double var = n ? sum2 / (double)n - *mean * *mean : 0;
    *err = var > 0 && n > 10 ? sqrt(var / (double)(n - 1)) : 0;
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double percentile(const float *v, uint64_t n, float fraction)
{
    float p = fraction * (float)(n - 1);
    uint64_t ip = (uint64_t)p;
    p -= (float)ip;
    return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}

static void kld_summary(struct sums *s, struct ferry_ppl_result *r)
{
    double lp, lpe, lb, lbe, kl, kle, dp, dpe;
    uint64_t n = s->count;
    mean_err(s->nll, s->nll2, n, &lp, &lpe);
    mean_err(s->nll_base, s->nll_base2, n, &lb, &lbe);
    mean_err(s->kld, s->kld2, n, &kl, &kle);
    mean_err(s->dp2, s->dp4, n, &dp, &dpe);
    double cov = n >= 10 ? (s->nll_nll_base / (double)n - lp * lb) / (double)(n - 1) : 0;
    r->kld = 1;
    r->ppl_base = exp(lb), r->ppl_base_err = r->ppl_base * lbe;
    r->cor_ln_ppl = lpe > 0 && lbe > 0 ? cov / (lpe * lbe) : 0;
    r->mean_ln_ratio = lp - lb;
    double v = lpe * lpe + lbe * lbe - 2 * cov;
    r->mean_ln_ratio_err = v > 0 ? sqrt(v) : 0;
    r->kld_mean = kl, r->kld_err = kle;
    r->dp_rms = sqrt(dp);
    r->same_top = n ? (double)s->same_top / (double)n : 0;
    qsort(s->kld_values, n, sizeof(float), by_value);
    if (!n) return;
    r->kld_max = s->kld_values[n - 1], r->kld_min = s->kld_values[0];
    r->kld_p999 = percentile(s->kld_values, n, 0.999f);
    r->kld_p99 = percentile(s->kld_values, n, 0.99f);
    r->kld_p90 = percentile(s->kld_values, n, 0.9f);
    r->kld_p10 = percentile(s->kld_values, n, 0.1f);
    r->kld_p1 = percentile(s->kld_values, n, 0.01f);
    r->kld_median =
        n % 2 ? s->kld_values[n / 2] : 0.5f * (s->kld_values[n / 2] + s->kld_values[n / 2 - 1]);
}

/* A reference file's header, checked against the file's size: ctx, vocabulary, chunks */
static int check_header(const struct ferry_map *f, const char *path, int32_t h[3],
                        struct ferry_error *err)
{
    if (f->size < 20 || memcmp(f->data, "_logits_", 8))
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "not a --kl-divergence-base file (no _logits_ magic and header)");
    memcpy(h, f->data + 8, 12);
    if (h[0] < 8 || h[1] < 1 || h[2] < 1)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 8, NULL,
                               "bad header: context %d, vocabulary %d, chunks %d", h[0], h[1],
                               h[2]);
    uint64_t c = (uint64_t)h[0], nv = 2 * (((uint64_t)h[1] + 1) / 2) + 4, toks, recs, need;
    int over = ckd_mul_u64(&toks, 4 * c, (uint64_t)h[2]) ||
               ckd_mul_u64(&recs, (uint64_t)h[2] * (c - 1 - c / 2), nv * 2) ||
               ckd_add_u64(&need, 20 + toks, recs);
    if (over || need != f->size)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "%llu bytes, but its header (context %d, vocabulary %d, %d chunks) "
                               "describes %s%llu",
                               (unsigned long long)f->size, h[0], h[1], h[2],
                               over ? "more than " : "",
                               (unsigned long long)(over ? UINT64_MAX : need));
    return 0;
}

/* The reference file mapped, its header checked and its vocabulary the model's. */
static int open_base(const char *path, uint32_t nvocab, struct ferry_map *f, uint32_t *ctx,
                     uint32_t *chunks, const int32_t **tokens, struct ferry_error *err)
{
    int rc = ferry_map_open(f, path, err);
    if (rc) return rc;
    int32_t h[3];
    if (!(rc = check_header(f, path, h, err)) && (uint32_t)h[1] != nvocab)
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, 12, NULL,
                             "written for a vocabulary of %d tokens; this model has %u", h[1],
                             nvocab);
    if (rc) {
        ferry_map_close(f);
        return rc;
    }
    *ctx = (uint32_t)h[0], *chunks = (uint32_t)h[2];
    *tokens = (const int32_t *)(f->data + 20);
    return 0;
}

int ferry_perplexity(struct ferry_model *m, const int32_t *tokens, uint64_t ntokens,
                     const struct ferry_ppl_opts *o, struct ferry_ppl_result *r,
                     struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    const struct ferry_model_info *in = ferry_model_get_info(m);
    uint32_t V = in->n_vocab, ctx = o->ctx, chunks;
    struct ferry_map base = {0};
    int have_base = 0, rc = 0;
    if (o->base_in) {
        const int32_t *bt;
        if ((rc = open_base(o->base_in, V, &base, &ctx, &chunks, &bt, err))) return rc;
        have_base = 1, tokens = bt, ntokens = (uint64_t)ctx * chunks;
    }
    if (ctx < 8 || ctx > in->n_ctx_alloc) {
        rc = ferry_error_set(err, FERRY_EUSAGE, o->base_in, FERRY_NO_OFFSET, NULL,
                             "a context of %u tokens: it must be 8 to %u", ctx, in->n_ctx_alloc);
        goto out;
    }
    if (ntokens < 2 * (uint64_t)ctx && !have_base) {
        rc = ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                             "the text has %llu tokens: at least %u (two chunks of %u) are needed",
                             (unsigned long long)ntokens, 2 * ctx, ctx);
        goto out;
    }
    int32_t bos = have_base && o->bos < 0 ? tokens[0] : o->bos;
    chunks = (uint32_t)(ntokens / ctx);
    if (o->max_chunks && o->max_chunks < chunks) chunks = o->max_chunks;
    uint32_t first = ctx / 2, nscore = ctx - 1 - first;
    size_t nv = 2 * (((size_t)V + 1) / 2) + 4;
    float *logits = malloc((size_t)(ctx - first) * V * sizeof(float));
    int32_t *w = malloc(ctx * sizeof(int32_t));
    uint16_t *rec = o->base_out ? calloc(nv, sizeof(uint16_t)) : NULL;
    struct sums s = {0};
    s.kld_values = have_base ? malloc(((size_t)chunks * nscore + 1) * sizeof(float)) : NULL;
    struct ferry_out bo = {0};
    int bo_open = 0;
    if (!logits || !w || (o->base_out && !rec) || (have_base && !s.kld_values)) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
        goto done;
    }
    if (o->base_out) { /* header and the tokens of the chunks scored */
        int32_t h[3] = {(int32_t)ctx, (int32_t)V, (int32_t)chunks};
        rc = ferry_out_open(&bo, o->base_out, o->force, err);
        bo_open = !rc;
        if (!rc) rc = ferry_out_write(&bo, "_logits_", 8, err);
        if (!rc) rc = ferry_out_write(&bo, h, sizeof(h), err);
        if (!rc) rc = ferry_out_write(&bo, tokens, (uint64_t)chunks * ctx * 4, err);
    }
    const uint8_t *records = have_base ? base.data + 20 + 4 * (uint64_t)ctx * chunks : NULL;
    for (uint32_t c = 0; !rc && c < chunks; c++) {
        memcpy(w, tokens + (uint64_t)c * ctx, ctx * sizeof(int32_t));
        if (bos >= 0) w[0] = bos;
        for (uint32_t t = 0; t < ctx; t++)
            if (w[t] < 0 || (uint32_t)w[t] >= V) {
                rc = ferry_error_set(err, FERRY_EMALFORMED, o->base_in, FERRY_NO_OFFSET, NULL,
                                     "token %d of chunk %u is outside the vocabulary", w[t], c);
                break;
            }
        if (!rc) rc = ferry_model_eval_from(m, w, ctx, 0, first, logits, err);
        for (uint32_t i = 0; !rc && i < nscore; i++) {
            const float *row = logits + (size_t)i * V;
            int32_t next = tokens[(uint64_t)c * ctx + first + i + 1];
            double nll;
            if (have_base) {
                compare_record(row, V, next, records + ((uint64_t)c * nscore + i) * nv * 2, &s);
                continue;
            }
            if (rec) {
                nll = base_record(row, V, next, rec);
                rc = ferry_out_write(&bo, rec, nv * sizeof(uint16_t), err);
            } else {
                float max = row[0];
                for (uint32_t k = 1; k < V; k++) max = fmaxf(max, row[k]);
                double se = 0;
                for (uint32_t k = 0; k < V; k++) se += expf(row[k] - max);
                nll = (double)max + log(se) - row[next];
            }
            s.nll += nll, s.nll2 += nll * nll, s.count++;
        }
        if (!rc && o->chunk) o->chunk(o->chunk_ctx, c + 1, chunks, exp(s.nll / (double)s.count));
    }
    if (!rc && bo_open) rc = ferry_out_commit(&bo, err), bo_open = 0;
    if (!rc) {
        double lp, lpe;
        mean_err(s.nll, s.nll2, s.count, &lp, &lpe);
        r->ppl = exp(lp), r->ppl_err = r->ppl * lpe;
        r->count = s.count, r->chunks = chunks, r->ctx = ctx;
        if (have_base) kld_summary(&s, r);
    }
done:
    if (bo_open) ferry_out_abort(&bo);
    free(logits);
    free(w);
    free(rec);
    free(s.kld_values);
out:
    if (have_base) ferry_map_close(&base);
    return rc;
}

int ferry_perplexity_base_ctx(const char *path, uint32_t *ctx, struct ferry_error *err)
{
    struct ferry_map f;
    int rc = ferry_map_open(&f, path, err);
    if (rc) return rc;
    int32_t h[3];
    rc = check_header(&f, path, h, err);
    ferry_map_close(&f);
    if (!rc) *ctx = (uint32_t)h[0];
    return rc;
}
