/* The Llama forward pass over a batch of tokens: RMSNorm, Q/K/V projections, RoPE (interleaved
 * or rotate-half), grouped-query attention over the KV cache with a causal mask, output
 * projection, SwiGLU feed-forward, final norm and logits. Matmuls and attention are split
 * over the thread pool by rows and by (token, head). */
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mm {
    const struct weight *w;
    const float *x;
    const void *xq;
    uint32_t T;
    float *y;
};

static void mm_task(void *ctx, unsigned i, unsigned n)
{
    const struct mm *j = ctx;
    /* whole groups of eight rows to each thread (the repacked kernels take eight at a time) */
    uint64_t rows = j->w->rows, groups = (rows + 7) / 8;
    uint64_t r0 = groups * i / n * 8, r1 = groups * (i + 1) / n * 8;
    if (r0 > rows) r0 = rows;
    if (r1 > rows) r1 = rows;
    float *scratch = malloc(j->w->cols * sizeof(float));
    if (scratch) kern_matmul(j->w, j->x, j->xq, j->T, j->y, rows, r0, r1, scratch);
    free(scratch);
}

/* y[T][w->rows] = x[T][w->cols] W^T */
static int matmul(struct ferry_model *m, const struct weight *w, const float *x, uint32_t T,
                  float *y)
{
    size_t qb = kern_xq_bytes(w, T);
    void *xq = qb ? malloc(qb) : NULL;
    if (qb && !xq) return -1;
    if (qb) kern_prepare_x(w, x, T, xq);
    struct mm j = {w, x, xq, T, y};
    pool_run(m->pool, mm_task, &j);
    free(xq);
    return 0;
}

static void rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
    double ss = 0;
    for (uint32_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (uint32_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

static void rope(const struct ferry_model *m, float *v, uint32_t heads, uint32_t pos)
{
    uint32_t hd = m->info.head_dim, half = hd / 2;
    for (uint32_t j = 0; j < half; j++) {
        double a = (double)pos * m->freqs[j];
        float c = (float)cos(a), s = (float)sin(a);
        for (uint32_t h = 0; h < heads; h++) {
            float *x = v + (size_t)h * hd;
            uint32_t i0 = m->info.rope_neox ? j : 2 * j,
                     i1 = m->info.rope_neox ? j + half : 2 * j + 1;
            float x0 = x[i0], x1 = x[i1];
            x[i0] = x0 * c - x1 * s;
            x[i1] = x0 * s + x1 * c;
        }
    }
}

struct attn {
    const struct ferry_model *m;
    uint32_t layer, T, pos;
    const float *q; /* [T][q_dim] */
    float *out;     /* [T][q_dim] */
};

static void attn_task(void *ctx, unsigned i, unsigned n)
{
    const struct attn *a = ctx;
    const struct ferry_model_info *in = &a->m->info;
    uint32_t hd = in->head_dim, nh = in->n_head, kvd = in->n_head_kv * hd, rep = nh / in->n_head_kv;
    uint32_t total = a->T * nh;
    float *score = malloc((a->pos + a->T) * sizeof(float));
    if (!score) return;
    float scale = 1.0f / sqrtf((float)hd);
    const float *kc = a->m->kcache + (size_t)a->layer * in->n_ctx_alloc * kvd;
    const float *vc = a->m->vcache + (size_t)a->layer * in->n_ctx_alloc * kvd;
    for (uint32_t task = total * i / n; task < total * (i + 1) / n; task++) {
        uint32_t t = task / nh, h = task % nh, kvh = h / rep, last = a->pos + t;
        const float *q = a->q + (size_t)t * nh * hd + (size_t)h * hd;
        kern_attend(q, kc + (size_t)kvh * hd, vc + (size_t)kvh * hd, kvd, hd, last + 1, scale, score,
                    a->out + (size_t)t * nh * hd + (size_t)h * hd);
    }
    free(score);
}

int ferry_model_eval(struct ferry_model *m, const int32_t *tokens, uint32_t T, uint32_t pos,
                     float *logits, int all, struct ferry_error *err)
{
    const struct ferry_model_info *in = &m->info;
    if (T == 0) return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL, "no tokens");
    if ((uint64_t)pos + T > in->n_ctx_alloc)
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                               "%u tokens at position %u exceed the context of %u positions", T,
                               pos, in->n_ctx_alloc);
    for (uint32_t t = 0; t < T; t++)
        if (tokens[t] < 0 || (uint32_t)tokens[t] >= in->n_vocab)
            return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                                   "token id %d is outside the vocabulary of %u", tokens[t],
                                   in->n_vocab);
    uint32_t d = in->n_embd, hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_head_kv * hd,
             ff = in->n_ff;
    size_t need = (size_t)T * (2 * d + 2 * qd + 2 * kvd + 2 * ff);
    float *buf = malloc(need * sizeof(float));
    if (!buf) return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    float *x = buf, *xb = x + (size_t)T * d, *q = xb + (size_t)T * d, *att = q + (size_t)T * qd,
          *k = att + (size_t)T * qd, *v = k + (size_t)T * kvd, *hb = v + (size_t)T * kvd,
          *hb2 = hb + (size_t)T * ff;
    int rc = 0;
    for (uint32_t t = 0; t < T; t++) kern_row(&m->embd, (uint64_t)tokens[t], x + (size_t)t * d);
    float eps = m->lm.hp.rms_eps;
    for (uint32_t l = 0; l < in->n_layer && !rc; l++) {
        const struct layer *L = &m->layers[l];
        for (uint32_t t = 0; t < T; t++)
            rmsnorm(xb + (size_t)t * d, x + (size_t)t * d, (const float *)L->attn_norm.data, d,
                    eps);
        if (matmul(m, &L->q, xb, T, q) || matmul(m, &L->k, xb, T, k) ||
            matmul(m, &L->v, xb, T, v)) {
            rc = -1;
            break;
        }
        float *kc = m->kcache + ((size_t)l * in->n_ctx_alloc) * kvd;
        float *vc = m->vcache + ((size_t)l * in->n_ctx_alloc) * kvd;
        for (uint32_t t = 0; t < T; t++) {
            rope(m, q + (size_t)t * qd, in->n_head, pos + t);
            rope(m, k + (size_t)t * kvd, in->n_head_kv, pos + t);
            memcpy(kc + (size_t)(pos + t) * kvd, k + (size_t)t * kvd, kvd * sizeof(float));
            memcpy(vc + (size_t)(pos + t) * kvd, v + (size_t)t * kvd, kvd * sizeof(float));
        }
        struct attn a = {m, l, T, pos, q, att};
        pool_run(m->pool, attn_task, &a);
        if (matmul(m, &L->o, att, T, xb)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < (size_t)T * d; i++) x[i] += xb[i];
        for (uint32_t t = 0; t < T; t++)
            rmsnorm(xb + (size_t)t * d, x + (size_t)t * d, (const float *)L->ffn_norm.data, d, eps);
        if (matmul(m, &L->gate, xb, T, hb) || matmul(m, &L->up, xb, T, hb2)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < (size_t)T * ff; i++) {
            float g = hb[i];
            hb[i] = g / (1.0f + expf(-g)) * hb2[i];
        }
        if (matmul(m, &L->down, hb, T, xb)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < (size_t)T * d; i++) x[i] += xb[i];
    }
    if (!rc) {
        uint32_t first = all ? 0 : T - 1, n = all ? T : 1;
        for (uint32_t t = first; t < T; t++)
            rmsnorm(xb + (size_t)t * d, x + (size_t)t * d, (const float *)m->out_norm.data, d, eps);
        if (matmul(m, &m->out, xb + (size_t)first * d, n, logits)) rc = -1;
    }
    free(buf);
    return rc ? ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory")
              : 0;
}
