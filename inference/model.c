/* Model loading for the forward pass: every input ferry converts is opened through the
 * conversion planner (ferry/llama.h) for names and hyperparameters; weights of a natively
 * computed type stay in the file mapping, others are materialized once as F32. Hugging Face
 * weights keep their rotate-half Q/K layout and the rope follows it. */
#include "attention.h"
#include "model_impl.h"
#include "ferry/hash.h"
#include "ferry/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ferry_plan_tensor *find(const struct ferry_llama *lm, const char *name)
{
    for (uint64_t i = 0; i < lm->nt; i++)
        if (!strcmp(lm->t[i].name, name)) return &lm->t[i];
    return NULL;
}

/* A weight in place, or materialized as F32 rows in the source's own Q/K layout. */
static int load_weight(struct ferry_model *m, const char *name, struct weight *w, int force_f32,
                       struct ferry_error *err)
{
    const struct ferry_plan_tensor *p = find(&m->lm, name);
    if (!p)
        return ferry_error_set(err, FERRY_EMALFORMED, m->path, FERRY_NO_OFFSET, name,
                               "missing from the model");
    memset(w, 0, sizeof(*w));
    w->name = p->name;
    w->rows = p->rows;
    w->cols = p->cols;
    const struct ferry_tensor *t = p->parts[0].t;
    if (!force_f32 && p->nparts == 1 && !p->generated && !p->row_scale && t->contiguous &&
        !t->byteswap && kern_native(t->dtype)) {
        const struct ferry_dtype_info *d = ferry_dtype_lookup(t->dtype);
        w->dt = w->file_dt = t->dtype;
        w->rb = p->cols / d->blck * d->bsize;
        w->data = t->data + p->parts[0].row0 * w->rb;
        return 0;
    }
    struct ferry_plan_tensor q = *p;
    w->file_dt = t->dtype;
    if (m->lm.layout == FERRY_LAYOUT_HF) q.perm = FERRY_PERM_NONE; /* compute in the HF layout */
    w->dt = FERRY_DT_F32;
    w->rb = p->cols * 4;
    w->owned = malloc(p->rows * w->rb);
    uint8_t *scratch = malloc(ferry_llama_source_row_bytes(&q) + 1);
    int rc = w->owned && scratch
                 ? 0
                 : ferry_error_set(err, FERRY_EINTERNAL, m->path, FERRY_NO_OFFSET, name, "oom");
    for (uint64_t r = 0; !rc && r < p->rows; r++)
        rc = ferry_llama_read_row(&m->lm, &q, r, (float *)(w->owned + r * w->rb), scratch, err);
    free(scratch);
    w->data = w->owned;
    return rc;
}

void ferry_model_free(struct ferry_model *m)
{
    if (!m) return;
    struct weight *all[] = {&m->embd, &m->out, &m->out_norm};
    for (size_t i = 0; i < 3; i++) free(all[i]->owned), free(all[i]->rep);
    for (uint32_t l = 0; m->layers && l < m->info.n_layer; l++) {
        struct layer *L = &m->layers[l];
        struct weight *lw[] = {&L->attn_norm, &L->q,    &L->k,  &L->v,   &L->o,
                               &L->ffn_norm,  &L->gate, &L->up, &L->down};
        for (size_t i = 0; i < 9; i++) free(lw[i]->owned), free(lw[i]->rep);
    }
    free(m->layers);
    free(m->kcache);
    free(m->vcache);
    free(m->freqs);
    free(m->path);
    if (m->pool) ferry_pool_free(m->pool);
    ferry_llama_close(&m->lm);
    free(m);
}

int ferry_model_load(struct ferry_model **out, const char *path, uint32_t ctx, unsigned threads,
                     struct ferry_error *err)
{
    *out = NULL;
    struct ferry_model *m = calloc(1, sizeof(*m));
    if (!m) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    m->path = strdup(path);
    int rc = ferry_llama_open(&m->lm, path, err);
    if (rc) goto fail;
    const struct ferry_llama_hparams *hp = &m->lm.hp;
    struct ferry_model_info *in = &m->info;
    in->n_vocab = hp->n_vocab, in->n_embd = hp->n_embd, in->n_layer = hp->n_layer;
    in->n_head = hp->n_head, in->n_head_kv = hp->n_head_kv, in->head_dim = hp->head_dim;
    in->n_ff = hp->n_ff, in->n_ctx = hp->n_ctx;
    in->n_ctx_alloc = ctx ? ctx : (hp->n_ctx < 4096 ? hp->n_ctx : 4096);
    if (in->n_ctx_alloc > hp->n_ctx) in->n_ctx_alloc = hp->n_ctx;
    in->rope_neox = m->lm.layout == FERRY_LAYOUT_HF;
    m->layers = calloc(hp->n_layer, sizeof(*m->layers));
    if (!m->layers) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
        goto fail;
    }
    char name[96];
    if ((rc = load_weight(m, "token_embd.weight", &m->embd, 0, err)) ||
        (rc = load_weight(m, "output_norm.weight", &m->out_norm, 1, err)))
        goto fail;
    if (find(&m->lm, "output.weight")) {
        if ((rc = load_weight(m, "output.weight", &m->out, 0, err))) goto fail;
    } else {
        m->out = m->embd; /* tied embeddings: share, never free twice */
        m->out.owned = NULL;
    }
    static const char *names[9] = {"attn_norm", "attn_q",   "attn_k", "attn_v",  "attn_output",
                                   "ffn_norm",  "ffn_gate", "ffn_up", "ffn_down"};
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        struct layer *L = &m->layers[l];
        struct weight *lw[9] = {&L->attn_norm, &L->q,    &L->k,  &L->v,   &L->o,
                                &L->ffn_norm,  &L->gate, &L->up, &L->down};
        for (int k = 0; k < 9; k++) {
            snprintf(name, sizeof(name), "blk.%u.%s.weight", l, names[k]);
            if ((rc = load_weight(m, name, lw[k], k == 0 || k == 5, err))) goto fail;
            kern_repack(lw[k]);
        }
    }
    kern_repack(&m->out);
    in->weight_type =
        ferry_dtype_name(m->layers[0].q.file_dt ? m->layers[0].q.file_dt : m->layers[0].q.dt);
    /* rope frequencies, divided by the llama3 factors when present */
    uint32_t half = hp->head_dim / 2;
    m->freqs = malloc(half * sizeof(double));
    if (!m->freqs) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
        goto fail;
    }
    for (uint32_t j = 0; j < half; j++) {
        double f = pow((double)hp->rope_theta, -2.0 * j / (double)hp->head_dim);
        if (m->lm.rope_freqs) f /= m->lm.rope_freqs[j];
        if (!strcmp(hp->rope_type, "linear") && hp->rope_factor > 0) f /= hp->rope_factor;
        m->freqs[j] = f;
    }
    size_t kv =
        (size_t)hp->n_layer * kern_kblocks_len(in->n_ctx_alloc) * hp->n_head_kv * hp->head_dim;
    m->kcache = calloc(kv, sizeof(float));
    m->vcache = calloc(kv, sizeof(float));
    m->pool = ferry_pool_new(threads ? threads : ferry_cpu_count());
    if (!m->kcache || !m->vcache || !m->pool) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL,
                             "cannot allocate the KV cache for %u positions", in->n_ctx_alloc);
        goto fail;
    }
    *out = m;
    return 0;
fail:
    ferry_model_free(m);
    return rc;
}

const struct ferry_model_info *ferry_model_get_info(const struct ferry_model *m)
{
    return &m->info;
}

const struct ferry_vocab *ferry_model_vocab(const struct ferry_model *m)
{
    return m->lm.has_vocab ? &m->lm.vocab : NULL;
}

void ferry_model_set_observer(struct ferry_model *m, ferry_model_observer fn, void *ctx)
{
    m->observe = fn;
    m->observe_ctx = ctx;
}
