/* Model-aware conversion to GGUF: output types per tensor, metadata in llama.cpp's keys and
 * value types, and a streaming source that converts rows on all cores. */
#define _GNU_SOURCE
#include "llama.h"
#include "ferry/convert.h"
#include "ferry/gguf.h"
#include "ferry/hash.h"
#include "ferry/manifest.h"
#include "ferry/quant.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

static const struct {
    const char *name;
    enum ferry_dtype dt;
    uint32_t file_type; /* general.file_type (llama_ftype) */
} types[] = {
    {"f32", FERRY_DT_F32, 0},   {"f16", FERRY_DT_F16, 1},   {"bf16", FERRY_DT_BF16, 32},
    {"q8_0", FERRY_DT_Q8_0, 7}, {"q4_0", FERRY_DT_Q4_0, 2}, {"q4_1", FERRY_DT_Q4_1, 3},
    {"q5_0", FERRY_DT_Q5_0, 8}, {"q5_1", FERRY_DT_Q5_1, 9},
};

struct job {
    const struct llama_model *m;
    struct ferry_ckpt *desc;
    unsigned threads;
    void (*progress)(void *, uint64_t);
    void *progress_ctx;
};

struct slice {
    const struct llama_model *m;
    const struct plan_tensor *p;
    enum ferry_dtype out;
    uint64_t r0, r1, rb; /* rows [r0, r1) into dst, rb bytes per output row */
    uint8_t *dst;
    struct ferry_error err;
    int rc;
};

static void *convert_rows(void *arg)
{
    struct slice *s = arg;
    float *row = malloc(s->p->cols * sizeof(float));
    uint8_t *scratch = malloc(llama_source_row_bytes(s->p) + 1);
    ferry_error_clear(&s->err);
    if (!row || !scratch)
        s->rc = ferry_error_set(&s->err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, s->p->name, "oom");
    for (uint64_t r = s->r0; !s->rc && r < s->r1; r++) {
        s->rc = llama_read_row(s->m, s->p, r, row, scratch, &s->err);
        if (!s->rc && ferry_from_float(s->out, row, s->dst + (r - s->r0) * s->rb, s->p->cols))
            s->rc = ferry_error_set(&s->err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, s->p->name,
                                    "cannot write %s", ferry_dtype_name(s->out));
    }
    free(row);
    free(scratch);
    return NULL;
}

/* Writer callback: bytes [off, off+n) of output tensor i, converting the rows that cover them
 * in parallel (a row cut by the chunk edge is converted by both neighbouring chunks). */
static int source(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                  struct ferry_error *err)
{
    struct job *j = ctx;
    const struct plan_tensor *p = &j->m->t[i];
    enum ferry_dtype out = j->desc->tensors[i].dtype;
    const struct ferry_dtype_info *d = ferry_dtype_info(out);
    uint64_t rb = p->cols / d->blck * d->bsize, r0 = off / rb, r1 = (off + n + rb - 1) / rb;
    uint8_t *stage = malloc((r1 - r0) * rb);
    if (!stage) return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, p->name, "oom");
    unsigned t = j->threads;
    if (t > r1 - r0) t = (unsigned)(r1 - r0);
    if (t < 1) t = 1;
    struct slice sl[64];
    pthread_t tid[64];
    int started[64] = {0};
    for (unsigned k = 0; k < t; k++) {
        uint64_t a = r0 + (r1 - r0) * k / t, b = r0 + (r1 - r0) * (k + 1) / t;
        sl[k] = (struct slice){j->m, p, out, a, b, rb, stage + (a - r0) * rb, {0}, 0};
        if (k > 0) started[k] = pthread_create(&tid[k], NULL, convert_rows, &sl[k]) == 0;
    }
    convert_rows(&sl[0]);
    for (unsigned k = 1; k < t; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            convert_rows(&sl[k]);
    }
    int rc = 0;
    for (unsigned k = 0; k < t && !rc; k++)
        if (sl[k].rc) {
            if (err) *err = sl[k].err;
            rc = sl[k].rc;
        }
    if (!rc) memcpy(dst, stage + (off - r0 * rb), n);
    free(stage);
    if (!rc && j->progress) j->progress(j->progress_ctx, n);
    return rc;
}

static struct ferry_kv *kv(struct ferry_ckpt *ck, const char *key, enum ferry_vtype t)
{
    struct ferry_kv *k = ferry_ckpt_add_kv(ck, key, strlen(key));
    if (k) k->val.type = t;
    return k;
}

static int kv_str(struct ferry_ckpt *ck, const char *key, const char *v)
{
    struct ferry_kv *k = kv(ck, key, FERRY_V_STRING);
    return k ? ferry_ckpt_kv_set_string(k, v, strlen(v)) : -1;
}

static int kv_u32(struct ferry_ckpt *ck, const char *key, uint64_t v)
{
    struct ferry_kv *k = kv(ck, key, FERRY_V_U32);
    if (k) k->val.v.u = v;
    return k ? 0 : -1;
}

static int kv_f32(struct ferry_ckpt *ck, const char *key, float v)
{
    struct ferry_kv *k = kv(ck, key, FERRY_V_F32);
    if (k) k->val.v.f = v;
    return k ? 0 : -1;
}

/* The source's manifest root: from its signed manifest when present, else hashed now. */
static void source_digest(const char *src, char hex[65])
{
    struct ferry_walk_opts wo = {0};
    struct ferry_manifest man;
    struct ferry_error e;
    ferry_error_clear(&e);
    hex[0] = 0;
    if (ferry_manifest_build(src, &wo, &man, &e) == 0) {
        ferry_hex(man.root, 32, hex);
        ferry_manifest_free(&man);
    }
}

static int metadata(struct ferry_ckpt *d, const struct llama_model *m, const char *src,
                    const char *name, uint32_t file_type, const char *type, struct ferry_error *err)
{
    const struct llama_hparams *hp = &m->hp;
    char digest[65], opts[64];
    int bad = kv_str(d, "general.architecture", "llama") || kv_str(d, "general.type", "model") ||
              kv_str(d, "general.name", name) || kv_u32(d, "llama.block_count", hp->n_layer) ||
              kv_u32(d, "llama.context_length", hp->n_ctx) ||
              kv_u32(d, "llama.embedding_length", hp->n_embd) ||
              kv_u32(d, "llama.feed_forward_length", hp->n_ff) ||
              kv_u32(d, "llama.attention.head_count", hp->n_head) ||
              kv_u32(d, "llama.attention.head_count_kv", hp->n_head_kv) ||
              kv_f32(d, "llama.rope.freq_base", hp->rope_theta) ||
              kv_f32(d, "llama.attention.layer_norm_rms_epsilon", hp->rms_eps) ||
              (hp->has_head_dim && (kv_u32(d, "llama.attention.key_length", hp->head_dim) ||
                                    kv_u32(d, "llama.attention.value_length", hp->head_dim))) ||
              kv_u32(d, "general.file_type", file_type) ||
              kv_u32(d, "llama.vocab_size", hp->n_vocab) ||
              kv_u32(d, "llama.rope.dimension_count", hp->head_dim) ||
              (!strcmp(hp->rope_type, "linear") &&
               (kv_str(d, "llama.rope.scaling.type", "linear") ||
                kv_f32(d, "llama.rope.scaling.factor", hp->rope_factor))) ||
              kv_u32(d, "general.quantization_version", 2);
    if (!bad && m->layout == LAYOUT_GGUF) {
        /* carry the source's tokenizer keys unchanged */
        const struct ferry_ckpt *s = &m->src[0];
        for (uint64_t i = 0; i < s->nkvs && !bad; i++) {
            if (strncmp(s->kvs[i].key, "tokenizer.", 10)) continue;
            struct ferry_kv *k = ferry_ckpt_add_kv(d, s->kvs[i].key, strlen(s->kvs[i].key));
            bad = !k;
            if (k) { /* share the source's arrays: d is freed without its values (see below) */
                k->val = s->kvs[i].val;
            }
        }
    } else if (!bad && m->has_vocab) {
        if (ferry_vocab_to_kvs(&m->vocab, d, err)) return err ? err->code : FERRY_EINTERNAL;
    }
    source_digest(src, digest);
    snprintf(opts, sizeof(opts), "--type %s", type);
    bad = bad || kv_str(d, "ferry.version", FERRY_VERSION) ||
          kv_str(d, "ferry.source.format", m->source_format) ||
          (digest[0] && kv_str(d, "ferry.source.digest", digest)) ||
          kv_str(d, "ferry.convert.options", opts);
    return bad ? ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory")
               : 0;
}

int ferry_convert_model(const char *src, const char *dst, const struct ferry_convert_opts *o,
                        struct ferry_error *err)
{
    const char *type = o->type ? o->type : "f16";
    size_t ti = 0;
    int keep = !strcmp(type, "keep");
    while (!keep && ti < sizeof(types) / sizeof(types[0]) && strcmp(types[ti].name, type)) ti++;
    if (!keep && ti == sizeof(types) / sizeof(types[0]))
        return ferry_error_set(
            err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
            "--type %s is not available (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 keep; "
            "k-quants are not built yet)",
            type);
    if (o->to != FERRY_FMT_GGUF)
        return ferry_error_set(
            err, FERRY_EUSAGE, dst, FERRY_NO_OFFSET, NULL,
            "model-aware conversion writes GGUF only so far (use --raw for containers)");
    struct llama_model m;
    int rc = llama_open(&m, src, err);
    if (rc) {
        llama_close(&m);
        return rc;
    }
    struct ferry_ckpt d;
    ferry_ckpt_init(&d);
    uint64_t n_src_kvs = 0;
    enum ferry_dtype want = keep ? FERRY_DT_INVALID : types[ti].dt;
    uint32_t file_type = keep ? 0 : types[ti].file_type;
    if (keep) { /* keep: the dominant source type of the 2-D weights */
        for (uint64_t i = 0; i < m.nt && want == FERRY_DT_INVALID; i++)
            if (m.t[i].ndim == 2 && ferry_can_write(m.t[i].parts[0].t->dtype))
                want = m.t[i].parts[0].t->dtype;
        if (want == FERRY_DT_INVALID) want = FERRY_DT_F32;
        for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
            if (types[k].dt == want) file_type = types[k].file_type;
    }
    rc = metadata(&d, &m, src, o->name ? o->name : m.name, file_type, type, err);
    if (m.layout == LAYOUT_GGUF)
        for (uint64_t i = 0; i < d.nkvs; i++)
            if (!strncmp(d.kvs[i].key, "tokenizer.", 10)) n_src_kvs = i + 1;
    for (uint64_t i = 0; !rc && i < m.nt; i++) {
        struct plan_tensor *p = &m.t[i];
        struct ferry_tensor *t = ferry_ckpt_add_tensor(&d, p->name, strlen(p->name));
        if (!t) {
            rc = ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "oom");
            break;
        }
        size_t nl = strlen(p->name);
        int norm = nl > 12 && !strcmp(p->name + nl - 12, "_norm.weight");
        enum ferry_dtype out = want;
        if (p->ndim <= 1 || norm || p->generated)
            out = FERRY_DT_F32;
        else if (keep) /* each weight stays in its own type where ferry can write it */
            out = ferry_can_write(p->parts[0].t->dtype) ? p->parts[0].t->dtype : FERRY_DT_F32;
        if (p->cols % ferry_dtype_info(out)->blck) out = FERRY_DT_F16; /* as convert_hf_to_gguf */
        t->dtype = out;
        t->ndim = p->ndim;
        memcpy(t->shape, p->shape, sizeof(uint64_t) * p->ndim);
        t->nelem = p->rows * p->cols;
        ferry_dtype_nbytes(out, t->nelem, &t->nbytes);
    }
    struct job j = {&m, &d, o->threads ? o->threads : ferry_cpu_count(), o->progress,
                    o->progress_ctx};
    if (j.threads > 64) j.threads = 64;
    if (!rc) rc = ferry_gguf_write(&d, dst, o->force, source, &j, err);
    /* tokenizer values copied from a GGUF source belong to the source */
    for (uint64_t i = 0; i < n_src_kvs; i++)
        if (!strncmp(d.kvs[i].key, "tokenizer.", 10))
            memset(&d.kvs[i].val, 0, sizeof(d.kvs[i].val));
    ferry_ckpt_free(&d);
    llama_close(&m);
    return rc;
}
