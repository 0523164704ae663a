/* The Llama forward pass over a batch of tokens: RMSNorm, Q/K/V projections, RoPE (interleaved
 * or rotate-half), grouped-query attention over the KV cache with a causal mask, output
 * projection, SwiGLU feed-forward, final norm and logits. Matmuls are split over the thread
 * pool by rows, attention by groups of queries that share a KV head; batches longer than 512
 * tokens go through in pieces. */
#include "attention.h"
#include "model_impl.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Up to three matmuls over the same input in one pass of the pool (Q/K/V, gate/up): each
 * thread takes its share of the rows of every weight; with swiglu set, the thread also turns
 * its rows of y[0] into silu(y[0]) * y[1]. */
struct mm {
    const struct weight *w[3];
    void *xq[3];
    float *y[3];
    unsigned count;
    const float *x;
    uint32_t T;
    int swiglu;
    atomic_int failed; /* a thread could not get its scratch: its rows are missing */
};

static void rows_of(uint64_t rows, unsigned i, unsigned n, uint64_t *r0, uint64_t *r1)
{
    /* whole groups of eight rows to each thread (the repacked kernels take eight at a time) */
    uint64_t groups = (rows + 7) / 8;
    *r0 = groups * i / n * 8, *r1 = groups * (i + 1) / n * 8;
    if (*r0 > rows) *r0 = rows;
    if (*r1 > rows) *r1 = rows;
}

static void mm_task(void *ctx, unsigned i, unsigned n)
{
    struct mm *j = ctx;
    uint64_t cols = j->w[0]->cols;
    float *scratch = malloc(KERN_SCRATCH_ROWS * cols * sizeof(float));
    if (!scratch) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (unsigned k = 0; k < j->count; k++) {
        uint64_t r0, r1, rows = j->w[k]->rows;
        rows_of(rows, i, n, &r0, &r1);
        kern_matmul(j->w[k], j->x, j->xq[k], j->T, j->y[k], rows, r0, r1, scratch);
    }
    free(scratch);
    if (!j->swiglu) return;
    uint64_t r0, r1, rows = j->w[0]->rows;
    rows_of(rows, i, n, &r0, &r1);
    for (uint32_t t = 0; t < j->T; t++)
        for (uint64_t r = r0; r < r1; r++) {
            float g = j->y[0][t * rows + r];
            j->y[0][t * rows + r] = g / (1.0f + expf(-g)) * j->y[1][t * rows + r];
        }
}

/* The activations of a batch quantized for the kernels, the tokens shared out over the pool. */
struct prep {
    const struct weight *w[3];
    void *xq[3];
    unsigned count;
    const float *x;
    uint32_t T;
};

static void prep_task(void *ctx, unsigned i, unsigned n)
{
    struct prep *j = ctx;
    uint32_t t0 = (uint32_t)((uint64_t)j->T * i / n), t1 = (uint32_t)((uint64_t)j->T * (i + 1) / n);
    for (unsigned k = 0; k < j->count && t1 > t0; k++) {
        size_t per = kern_xq_bytes(j->w[k], j->T) / j->T;
        kern_prepare_x(j->w[k], j->x + (size_t)t0 * j->w[k]->cols, t1 - t0, j->T,
                       (uint8_t *)j->xq[k] + per * t0);
    }
}

/* y_k[T][w_k->rows] = x[T][cols] W_k^T for k < count (weights with the same cols) */
static int matmuls(struct ferry_model *m, const struct weight *const *w, float *const *y,
                   unsigned count, const float *x, uint32_t T, int swiglu)
{
    struct mm j = {.count = count, .x = x, .T = T, .swiglu = swiglu};
    int rc = 0;
    for (unsigned k = 0; m->observe && k < count; k++)
        m->observe(m->observe_ctx, w[k]->name, x, T, w[k]->cols);
    struct prep pr = {.x = x, .T = T};
    for (unsigned k = 0; k < count; k++) {
        j.w[k] = w[k], j.y[k] = y[k];
        size_t qb = kern_xq_bytes(w[k], T);
        for (unsigned e = 0; qb && e < k && !j.xq[k]; e++) /* same activation format: share it */
            if (j.xq[e] && w[e]->dt == w[k]->dt && w[e]->cols == w[k]->cols) j.xq[k] = j.xq[e];
        if (!qb || j.xq[k]) continue;
        if (!(j.xq[k] = malloc(qb))) rc = -1;
        pr.w[pr.count] = w[k], pr.xq[pr.count++] = j.xq[k];
    }
    if (!rc && pr.count) { /* one token is quicker alone than handed out */
        if (T >= 8)
            ferry_pool_run(m->pool, prep_task, &pr);
        else
            prep_task(&pr, 0, 1);
    }
    if (!rc) ferry_pool_run(m->pool, mm_task, &j);
    if (!rc && atomic_load(&j.failed)) rc = -1;
    for (unsigned k = 0; k < count; k++) {
        int shared = 0;
        for (unsigned e = 0; e < k; e++) shared |= j.xq[e] == j.xq[k];
        if (!shared) free(j.xq[k]);
    }
    return rc;
}

static int matmul(struct ferry_model *m, const struct weight *w, const float *x, uint32_t T,
                  float *y)
{
    return matmuls(m, &w, &y, 1, x, T, 0);
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
    atomic_int failed;
};

/* Tasks of up to KERN_ATTEND_MAX queries that share a KV head: the queries of one KV head are
 * taken token by token, the heads of its group within a token. Tasks go to the threads in turn
 * (i, i + n, ...) because a later token attends to more positions. */
static void attn_task(void *ctx, unsigned i, unsigned n)
{
    struct attn *a = ctx;
    const struct ferry_model_info *in = &a->m->info;
    uint32_t hd = in->head_dim, nh = in->n_head, nkv = in->n_head_kv, kvd = nkv * hd,
             rep = nh / nkv, per = a->T * rep,
             tiles = (per + KERN_ATTEND_MAX - 1) / KERN_ATTEND_MAX,
             ctx16 = kern_kblocks_len(in->n_ctx_alloc);
    float *scratch = malloc(kern_attend_scratch(a->pos + a->T) * sizeof(float));
    if (!scratch) {
        atomic_store(&a->failed, 1);
        return;
    }
    const float *kc = a->m->kcache + (size_t)a->layer * ctx16 * kvd;
    const float *vc = a->m->vcache + (size_t)a->layer * ctx16 * kvd;
    for (uint32_t task = i; task < tiles * nkv; task += n) {
        uint32_t g = task % nkv, first = task / nkv * KERN_ATTEND_MAX;
        struct kern_attend_args q = {.kt = kc + (size_t)g * ctx16 * hd,
                                     .v = vc + (size_t)g * hd,
                                     .vstride = kvd,
                                     .hd = hd,
                                     .scale = 1.0f / sqrtf((float)hd)};
        for (uint32_t u = first; u < per && q.nq < KERN_ATTEND_MAX; u++, q.nq++) {
            uint32_t t = u / rep, h = g * rep + u % rep;
            q.q[q.nq] = a->q + (size_t)t * nh * hd + (size_t)h * hd;
            q.out[q.nq] = a->out + (size_t)t * nh * hd + (size_t)h * hd;
            q.npos[q.nq] = a->pos + t + 1;
        }
        kern_attend(&q, scratch);
    }
    free(scratch);
}

int ferry_model_eval(struct ferry_model *m, const int32_t *tokens, uint32_t T, uint32_t pos,
                     float *logits, int all, struct ferry_error *err)
{
    return ferry_model_eval_from(m, tokens, T, pos, all || !T ? 0 : T - 1, logits, err);
}

static int eval_batch(struct ferry_model *m, const int32_t *tokens, uint32_t T, uint32_t pos,
                      uint32_t from, float *logits, struct ferry_error *err);

/* Longer batches go through in pieces of EVAL_BATCH tokens (as llama.cpp's micro-batches):
 * the activations of a piece are all the memory a batch needs besides the KV cache and the
 * logits asked for, whatever the prompt's length. */
#define EVAL_BATCH 512

int ferry_model_eval_from(struct ferry_model *m, const int32_t *tokens, uint32_t T, uint32_t pos,
                          uint32_t from, float *logits, struct ferry_error *err)
{
    const struct ferry_model_info *in = &m->info;
    if (T == 0 || from >= T)
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL, "no tokens");
    if ((uint64_t)pos + T > in->n_ctx_alloc)
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                               "%u tokens at position %u exceed the context of %u positions", T,
                               pos, in->n_ctx_alloc);
    for (uint32_t t = 0; t < T; t++)
        if (tokens[t] < 0 || (uint32_t)tokens[t] >= in->n_vocab)
            return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                                   "token id %d is outside the vocabulary of %u", tokens[t],
                                   in->n_vocab);
    int rc = 0;
    for (uint32_t off = 0; off < T && !rc; off += EVAL_BATCH) {
        uint32_t n = T - off < EVAL_BATCH ? T - off : EVAL_BATCH;
        uint32_t lfrom = from > off ? from - off : 0; /* logits of tokens [from, T) only */
        float *out = lfrom < n ? logits + (size_t)(off + lfrom - from) * in->n_vocab : NULL;
        rc = eval_batch(m, tokens + off, n, pos + off, lfrom < n ? lfrom : n, out, err);
    }
    return rc;
}

/* One piece: logits of tokens [from, T) when from < T. */
static int eval_batch(struct ferry_model *m, const int32_t *tokens, uint32_t T, uint32_t pos,
                      uint32_t from, float *logits, struct ferry_error *err)
{
    const struct ferry_model_info *in = &m->info;
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
        const struct weight *qkv[3] = {&L->q, &L->k, &L->v};
        float *qkv_out[3] = {q, k, v};
        if (matmuls(m, qkv, qkv_out, 3, xb, T, 0)) {
            rc = -1;
            break;
        }
        size_t ctx16 = kern_kblocks_len(in->n_ctx_alloc);
        float *kc = m->kcache + l * ctx16 * kvd, *vc = m->vcache + l * ctx16 * kvd;
        for (uint32_t t = 0; t < T; t++) {
            rope(m, q + (size_t)t * qd, in->n_head, pos + t);
            rope(m, k + (size_t)t * kvd, in->n_head_kv, pos + t);
            for (uint32_t g = 0; g < in->n_head_kv; g++)
                kern_store_key(kc + g * ctx16 * hd, hd, pos + t, k + (size_t)t * kvd + g * hd);
            memcpy(vc + (size_t)(pos + t) * kvd, v + (size_t)t * kvd, kvd * sizeof(float));
        }
        struct attn a = {m, l, T, pos, q, att, 0};
        ferry_pool_run(m->pool, attn_task, &a);
        if (atomic_load(&a.failed) || matmul(m, &L->o, att, T, xb)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < (size_t)T * d; i++) x[i] += xb[i];
        for (uint32_t t = 0; t < T; t++)
            rmsnorm(xb + (size_t)t * d, x + (size_t)t * d, (const float *)L->ffn_norm.data, d, eps);
        const struct weight *gu[2] = {&L->gate, &L->up};
        float *gu_out[2] = {hb, hb2};
        if (matmuls(m, gu, gu_out, 2, xb, T, 1)) { /* hb = silu(gate) * up */
            rc = -1;
            break;
        }
        if (matmul(m, &L->down, hb, T, xb)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < (size_t)T * d; i++) x[i] += xb[i];
    }
    if (!rc && from < T) {
        for (uint32_t t = from; t < T; t++)
            rmsnorm(xb + (size_t)t * d, x + (size_t)t * d, (const float *)m->out_norm.data, d, eps);
        if (matmul(m, &m->out, xb + (size_t)from * d, T - from, logits)) rc = -1;
    }
    free(buf);
    return rc ? ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory")
              : 0;
}
