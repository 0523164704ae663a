/* Opening a Llama checkpoint for conversion: hyperparameters (config.json, params.json or GGUF
 * keys), the tokenizer, and a plan of GGUF-named tensors checked against the hyperparameters. */
#define _GNU_SOURCE
#include "ferry/json_file.h"
#include "llama.h"
#include "ferry/archive.h"
#include "ferry/quant.h"
#include "llama_names.h"
#include "ferry/gguf.h"
#include "ferry/pytorch.h"
#include "ferry/llama2c.h"

#include <glob.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BAD(file, obj, ...)                                                                        \
    ferry_error_set(err, FERRY_EMALFORMED, file, FERRY_NO_OFFSET, obj, __VA_ARGS__)

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int exists(const char *dir, const char *name, char *out, size_t n)
{
    int len = snprintf(out, n, "%s/%s", dir, name);
    return len > 0 && (size_t)len < n && ferry_path_kind(out) == 0; /* archive paths too */
}

/* First present key among names, as a number. */
static json_t *first(json_t *o, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(o, *keys);
        if (v && !json_is_null(v)) return v;
    }
    return NULL;
}

static int u32_of(json_t *v, uint32_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > UINT32_MAX)
        return -1;
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static void llama3_defaults(struct ferry_llama_hparams *hp)
{
    snprintf(hp->rope_type, sizeof(hp->rope_type), "llama3");
    hp->rope_factor = 8.0f;
    hp->low_freq_factor = 1.0f;
    hp->high_freq_factor = 4.0f;
    hp->orig_ctx = 8192;
}

static int hf_config(struct ferry_llama *m, const char *dir, struct ferry_error *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    json_t *c;
    int jrc = ferry_json_load(path, JSON_REJECT_DUPLICATES, &c, err);
    if (jrc) return jrc;
    int rc = 0;
    json_t *archs = json_object_get(c, "architectures");
    const char *arch = json_string_value(json_array_get(archs, 0));
    const char *mt = json_string_value(json_object_get(c, "model_type"));
    if (!(arch && (!strcmp(arch, "LlamaForCausalLM") || !strcmp(arch, "LLaMAForCausalLM") ||
                   !strcmp(arch, "MistralForCausalLM"))) &&
        !(mt && (!strcmp(mt, "llama") || !strcmp(mt, "mistral")))) {
        rc = BAD(path, "architectures",
                 "unsupported architecture '%s' (ferry converts the Llama family)",
                 arch ? arch
                 : mt ? mt
                      : "?");
        goto out;
    }
    struct ferry_llama_hparams *hp = &m->hp;
    static const char *k_layer[] = {"num_hidden_layers", "n_layers", "n_layer", "num_layers", NULL};
    static const char *k_ctx[] = {"max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                  NULL};
    static const char *k_embd[] = {"hidden_size", "n_embd", "dim", NULL};
    static const char *k_ff[] = {"intermediate_size", "n_inner", "hidden_dim", NULL};
    static const char *k_head[] = {"num_attention_heads", "n_head", "n_heads", NULL};
    static const char *k_kv[] = {"num_key_value_heads", "n_kv_heads", NULL};
    static const char *k_vocab[] = {"vocab_size", NULL};
    static const char *k_theta[] = {"rope_theta", NULL};
    static const char *k_eps[] = {"rms_norm_eps", "norm_eps", NULL};
    if (u32_of(first(c, k_layer), &hp->n_layer) || u32_of(first(c, k_embd), &hp->n_embd) ||
        u32_of(first(c, k_ff), &hp->n_ff) || u32_of(first(c, k_head), &hp->n_head) ||
        u32_of(first(c, k_vocab), &hp->n_vocab)) {
        rc = BAD(path, NULL,
                 "needs positive integer num_hidden_layers, hidden_size, "
                 "intermediate_size, num_attention_heads and vocab_size");
        goto out;
    }
    if (u32_of(first(c, k_kv), &hp->n_head_kv)) hp->n_head_kv = hp->n_head;
    if (u32_of(first(c, k_ctx), &hp->n_ctx)) hp->n_ctx = 2048;
    json_t *hd = json_object_get(c, "head_dim");
    hp->has_head_dim = !u32_of(hd, &hp->head_dim);
    if (!hp->has_head_dim) hp->head_dim = hp->n_embd / hp->n_head;
    /* transformers 5 writes "rope_parameters" {rope_type, rope_theta, factor, ...} in place of
     * top-level rope_theta and rope_scaling; both shapes say the same things */
    json_t *rp = json_object_get(c, "rope_parameters");
    if (rp && !json_is_object(rp)) {
        rc = BAD(path, "rope_parameters", "not an object");
        goto out;
    }
    json_t *th = first(c, k_theta), *eps = first(c, k_eps);
    if (rp && json_object_get(rp, "rope_theta")) th = json_object_get(rp, "rope_theta");
    if (th && !json_is_number(th)) {
        rc = BAD(path, "rope_theta", "not a number");
        goto out;
    }
    hp->rope_theta = th ? (float)json_number_value(th) : 10000.0f;
    hp->rms_eps = eps && json_is_number(eps) ? (float)json_number_value(eps) : 1e-5f;
    hp->tied = json_is_true(json_object_get(c, "tie_word_embeddings"));
    json_t *rs = rp ? rp : json_object_get(c, "rope_scaling");
    if (json_is_object(rs)) {
        const char *t = json_string_value(json_object_get(rs, "rope_type"));
        if (!t) t = json_string_value(json_object_get(rs, "type"));
        json_t *f = json_object_get(rs, "factor");
        if (t && !strcmp(t, "llama3")) {
            llama3_defaults(hp);
            json_t *lo = json_object_get(rs, "low_freq_factor"),
                   *hi = json_object_get(rs, "high_freq_factor");
            json_t *oc = json_object_get(rs, "original_max_position_embeddings");
            if (json_is_number(f)) hp->rope_factor = (float)json_number_value(f);
            if (json_is_number(lo)) hp->low_freq_factor = (float)json_number_value(lo);
            if (json_is_number(hi)) hp->high_freq_factor = (float)json_number_value(hi);
            if (json_is_integer(oc))
                hp->orig_ctx = json_integer_value(oc) > 0 && json_integer_value(oc) <= UINT32_MAX
                                   ? (uint32_t)json_integer_value(oc)
                                   : 0;
        } else if (t && !strcmp(t, "linear") && json_is_number(f)) {
            snprintf(hp->rope_type, sizeof(hp->rope_type), "linear");
            hp->rope_factor = (float)json_number_value(f);
        } else if (t && strcmp(t, "default")) {
            rc = BAD(path, rp ? "rope_parameters" : "rope_scaling",
                     "rope type '%s' is not supported (ferry computes default, linear and llama3)",
                     t);
            goto out;
        }
    }
    if ((!hp->has_head_dim && hp->n_embd % hp->n_head) || hp->n_head % hp->n_head_kv ||
        hp->head_dim % 2) {
        rc = BAD(path, NULL,
                 "inconsistent: hidden_size %u, %u heads (head size %u), %u kv heads (head size "
                 "must be even, heads a multiple of kv heads)",
                 hp->n_embd, hp->n_head, hp->head_dim, hp->n_head_kv);
        goto out;
    }
out:
    json_decref(c);
    return rc;
}

static int meta_params(struct ferry_llama *m, const char *dir, struct ferry_error *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/params.json", dir);
    json_t *c;
    int jrc = ferry_json_load(path, JSON_REJECT_DUPLICATES, &c, err);
    if (jrc) return jrc;
    struct ferry_llama_hparams *hp = &m->hp;
    int rc = 0;
    if (u32_of(json_object_get(c, "dim"), &hp->n_embd) ||
        u32_of(json_object_get(c, "n_layers"), &hp->n_layer) ||
        u32_of(json_object_get(c, "n_heads"), &hp->n_head)) {
        rc = BAD(path, NULL, "needs positive integer dim, n_layers and n_heads");
        goto out;
    }
    if (u32_of(json_object_get(c, "n_kv_heads"), &hp->n_head_kv)) hp->n_head_kv = hp->n_head;
    u32_of(json_object_get(c, "vocab_size"), &hp->n_vocab); /* -1 in Llama 2: from the weights */
    json_t *eps = json_object_get(c, "norm_eps"), *th = json_object_get(c, "rope_theta");
    hp->rms_eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-5f;
    hp->rope_theta = json_is_number(th) ? (float)json_number_value(th) : 10000.0f;
    hp->head_dim = hp->n_embd / hp->n_head;
    if (json_is_true(json_object_get(c, "use_scaled_rope"))) {
        llama3_defaults(hp);
        json_t *sf = json_object_get(c, "rope_scaling_factor");
        if (json_is_number(sf)) hp->rope_factor = (float)json_number_value(sf);
    }
    if (u32_of(json_object_get(c, "max_seq_len"), &hp->n_ctx))
        hp->n_ctx = hp->rope_type[0] ? 131072 : hp->rope_theta >= 500000.0f ? 8192 : 4096;
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        rc = BAD(path, NULL, "inconsistent: dim %u, %u heads, %u kv heads", hp->n_embd, hp->n_head,
                 hp->n_head_kv);
out:
    json_decref(c);
    return rc;
}

/* llama3 rope scaling: per-frequency divisors written as rope_freqs.weight
 * (reference/formats.md 3.5). */
static void rope_freqs_fill(const struct ferry_llama_hparams *hp, float *out)
{
    uint32_t n = hp->head_dim / 2;
    float low_wl = (float)hp->orig_ctx / hp->low_freq_factor;
    float high_wl = (float)hp->orig_ctx / hp->high_freq_factor;
    for (uint32_t j = 0; j < n; j++) {
        float freq = 1.0f / powf(hp->rope_theta, (float)(2 * j) / (float)hp->head_dim);
        float wl = 2.0f * (float)M_PI / freq;
        float v;
        if (wl < high_wl)
            v = 1.0f;
        else if (wl > low_wl)
            v = hp->rope_factor;
        else {
            float smooth = ((float)hp->orig_ctx / wl - hp->low_freq_factor) /
                           (hp->high_freq_factor - hp->low_freq_factor);
            v = 1.0f / ((1.0f - smooth) / hp->rope_factor + smooth);
        }
        out[j] = v;
    }
}

static int rope_freqs(struct ferry_llama *m, struct ferry_error *err)
{
    m->rope_freqs = malloc(m->hp.head_dim / 2 * sizeof(float));
    if (!m->rope_freqs)
        return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    rope_freqs_fill(&m->hp, m->rope_freqs);
    return 0;
}

/* A GGUF keeps llama3 rope scaling only as rope_freqs.weight; a config.json needs the factors
 * back. factor is the largest divisor; with low_freq_factor 1 (Meta's value in every Llama 3
 * release) each divisor between 1 and factor gives orig_ctx / wavelength linearly, so two of
 * them give high_freq_factor and the original context (one gives the context, taking Meta's
 * high_freq_factor 4). Kept only when recomputing every divisor from them gives the tensor
 * back; otherwise the scaling stays unnamed (hp->orig_ctx 0). */
static void recover_llama3(struct ferry_llama_hparams *hp, const float *rf)
{
    uint32_t n = hp->head_dim / 2;
    float factor = 1.0f;
    for (uint32_t j = 0; j < n; j++) factor = rf[j] > factor ? rf[j] : factor;
    double x[2], y[2]; /* 1/wavelength, smooth */
    int k = 0;
    for (uint32_t j = 0; j < n && k < 2; j++) {
        if (rf[j] <= 1.0f + 1e-6f || rf[j] >= factor - 1e-6f) continue;
        double freq = 1.0 / pow(hp->rope_theta, (double)(2 * j) / (double)hp->head_dim);
        x[k] = freq / (2.0 * M_PI);
        y[k] = (1.0 / rf[j] - 1.0 / factor) / (1.0 - 1.0 / factor);
        k++;
    }
    double lff = 1.0, hff = 4.0, orig = 8192.0;
    if (k == 2 && x[0] != x[1]) { /* smooth = A x - B, A = orig / (hff - 1), B = 1 / (hff - 1) */
        double a = (y[0] - y[1]) / (x[0] - x[1]), b = a * x[0] - y[0];
        if (b > 0) hff = 1.0 + 1.0 / b, orig = a / b;
    } else if (k == 1)
        orig = (3.0 * y[0] + 1.0) / x[0];
    struct ferry_llama_hparams t = *hp;
    t.rope_factor = factor, t.low_freq_factor = (float)lff;
    t.high_freq_factor = (float)(round(hff * 1000.0) / 1000.0);
    t.orig_ctx = (uint32_t)llround(orig);
    float *back = malloc(n * sizeof(float));
    if (!back || !t.orig_ctx) {
        free(back);
        return;
    }
    rope_freqs_fill(&t, back);
    int same = 1;
    for (uint32_t j = 0; j < n; j++) same &= fabsf(back[j] - rf[j]) <= 1e-4f * rf[j];
    free(back);
    if (same) *hp = t;
}

static int cmp_plan(const void *a, const void *b)
{
    const struct ferry_plan_tensor *x = a, *y = b;
    int lx = 0, ly = 0, ox, oy;
    const struct llama_name *nx = llama_name_lookup(x->name, NAME_GGUF, &lx);
    const struct llama_name *ny = llama_name_lookup(y->name, NAME_GGUF, &ly);
    ox = nx ? nx->order : 0;
    oy = ny ? ny->order : 0;
    long kx = (nx && nx->per_layer) ? 10 + (long)lx * 100 + ox : ox < 10 ? ox : 100000000L + ox;
    long ky = (ny && ny->per_layer) ? 10 + (long)ly * 100 + oy : oy < 10 ? oy : 100000000L + oy;
    return kx < ky ? -1 : kx > ky;
}

/* Expected [rows, cols] of a tensor kind. */
static void expected_shape(const struct ferry_llama_hparams *hp, const char *gguf, uint64_t *r,
                           uint64_t *c)
{
    uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    *r = 1, *c = hp->n_embd;
    if (!strcmp(gguf, "token_embd.weight") || !strcmp(gguf, "output.weight"))
        *r = hp->n_vocab;
    else if (!strcmp(gguf, "attn_q.weight"))
        *r = q;
    else if (!strcmp(gguf, "attn_k.weight") || !strcmp(gguf, "attn_v.weight"))
        *r = kv;
    else if (!strcmp(gguf, "attn_output.weight"))
        *r = hp->n_embd, *c = q;
    else if (!strcmp(gguf, "ffn_gate.weight") || !strcmp(gguf, "ffn_up.weight"))
        *r = hp->n_ff;
    else if (!strcmp(gguf, "ffn_down.weight"))
        *r = hp->n_embd, *c = hp->n_ff;
}

static int add_plan(struct ferry_llama *m, const struct llama_name *ln, int layer,
                    const struct ferry_tensor *t, const struct ferry_map *map,
                    struct ferry_error *err)
{
    const char *file = map->path;
    struct ferry_plan_tensor *p = &m->t[m->nt];
    memset(p, 0, sizeof(*p));
    llama_name_format(ln, NAME_GGUF, layer, p->name, sizeof(p->name));
    for (uint64_t i = 0; i < m->nt; i++)
        if (!strcmp(m->t[i].name, p->name))
            return BAD(file, t->name, "tensor appears twice (as %s)", p->name);
    if (t->ndim < 1 || t->ndim > 2) return BAD(file, t->name, "expected a 1-D or 2-D tensor");
    p->ndim = t->ndim;
    memcpy(p->shape, t->shape, sizeof(uint64_t) * t->ndim);
    p->rows = t->ndim == 2 ? t->shape[0] : 1;
    p->cols = t->shape[t->ndim - 1];
    p->parts[0].t = t;
    p->parts[0].map = map;
    p->nparts = 1;
    if (layer >= (int)m->hp.n_layer)
        return BAD(file, t->name, "layer %d but the model has %u", layer, m->hp.n_layer);
    m->nt++;
    return 0;
}

static int check_shapes(struct ferry_llama *m, const char *what, struct ferry_error *err)
{
    for (uint64_t i = 0; i < m->nt; i++) {
        struct ferry_plan_tensor *p = &m->t[i];
        if (p->generated) continue;
        uint64_t r, c;
        const char *base = strncmp(p->name, "blk.", 4) ? p->name : strchr(p->name + 4, '.') + 1;
        expected_shape(&m->hp, base, &r, &c);
        if (p->rows != r || p->cols != c)
            return BAD(what, p->name, "shape [%llu, %llu] does not match the config ([%llu, %llu])",
                       (unsigned long long)p->rows, (unsigned long long)p->cols,
                       (unsigned long long)r, (unsigned long long)c);
    }
    /* every layer tensor present */
    static const char *need[] = {"attn_norm.weight", "attn_q.weight",      "attn_k.weight",
                                 "attn_v.weight",    "attn_output.weight", "ffn_norm.weight",
                                 "ffn_gate.weight",  "ffn_up.weight",      "ffn_down.weight"};
    char name[96];
    for (uint32_t l = 0; l < m->hp.n_layer; l++)
        for (size_t k = 0; k < 9; k++) {
            snprintf(name, sizeof(name), "blk.%u.%s", l, need[k]);
            int found = 0;
            for (uint64_t i = 0; i < m->nt && !found; i++) found = !strcmp(m->t[i].name, name);
            if (!found) return BAD(what, name, "missing from the checkpoint");
        }
    int has_embd = 0, has_out = 0, has_norm = 0;
    for (uint64_t i = 0; i < m->nt; i++) {
        has_embd |= !strcmp(m->t[i].name, "token_embd.weight");
        has_out |= !strcmp(m->t[i].name, "output.weight");
        has_norm |= !strcmp(m->t[i].name, "output_norm.weight");
    }
    if (!has_embd || !has_norm)
        return BAD(what, has_embd ? "output_norm.weight" : "token_embd.weight",
                   "missing from the checkpoint");
    if (!has_out) m->hp.tied = 1;
    return 0;
}

static int open_vocab(struct ferry_llama *m, const char *dir, struct ferry_error *err)
{
    char path[4200];
    /* tokenizer.model (sentencepiece, or Meta's Llama 3 tiktoken text) before tokenizer.json;
     * ferry_vocab_load tells the kinds apart */
    if (!exists(dir, "tokenizer.model", path, sizeof(path)) &&
        !exists(dir, "tokenizer.json", path, sizeof(path)))
        return 0; /* no tokenizer: weights only */
    int rc = ferry_vocab_load(path, m->hp.n_vocab, &m->vocab, err);
    if (!rc) m->has_vocab = 1;
    return rc;
}

/* FP8 checkpoints keep a scale beside each 8-bit weight (X.weight_scale for X.weight) and
 * activation bounds (X.input_scale, X.input_scale_ub) that conversion does not need. */
static int is_fp8_scale(const char *name)
{
    return ends_with(name, ".weight_scale") || ends_with(name, ".input_scale") ||
           ends_with(name, ".input_scale_ub");
}

/* Each X.weight_scale goes with the plan of X.weight: one readable float per row of the
 * weight, or one for all of it. */
static int attach_fp8_scales(struct ferry_llama *m, const struct ferry_ckpt *ck,
                             struct ferry_error *err)
{
    for (uint64_t i = 0; i < ck->ntensors; i++) {
        const struct ferry_tensor *t = &ck->tensors[i];
        if (!ends_with(t->name, ".weight_scale")) continue;
        const char *file = ck->files[t->file].path;
        size_t base = strlen(t->name) - strlen("_scale");
        struct ferry_plan_tensor *p = NULL;
        for (uint64_t k = 0; k < m->nt && !p; k++)
            if (m->t[k].nparts == 1 && strlen(m->t[k].parts[0].t->name) == base &&
                !strncmp(m->t[k].parts[0].t->name, t->name, base))
                p = &m->t[k];
        if (!p) return BAD(file, t->name, "scale of a weight the checkpoint does not have");
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->ndim; d++) n *= t->shape[d];
        const struct ferry_dtype_info *di = ferry_dtype_lookup(t->dtype);
        if ((n != 1 && n != p->rows) || (t->ndim == 2 && t->shape[1] != 1 && n != 1) ||
            di->blck != 1 || !ferry_can_read(t->dtype) || !t->contiguous)
            return BAD(file, t->name, "expected one %s scale per row of %llu rows",
                       "readable float", (unsigned long long)p->rows);
        p->row_scale = t;
    }
    return 0;
}

static int open_hf(struct ferry_llama *m, const char *dir, struct ferry_error *err)
{
    int rc = hf_config(m, dir, err);
    if (rc || (rc = ferry_ckpt_open(&m->src[0], dir, err))) return rc;
    m->nsrc = 1;
    m->layout = FERRY_LAYOUT_HF;
    snprintf(m->source_format, sizeof(m->source_format), "hf-%s", m->src[0].format);
    const struct ferry_ckpt *ck = &m->src[0];
    m->t = calloc(ck->ntensors + 2, sizeof(*m->t));
    if (!m->t) return ferry_error_set(err, FERRY_EINTERNAL, dir, FERRY_NO_OFFSET, NULL, "oom");
    for (uint64_t i = 0; i < ck->ntensors; i++) {
        const struct ferry_tensor *t = &ck->tensors[i];
        int layer;
        if (llama_name_skipped(t->name) || is_fp8_scale(t->name)) continue;
        const struct llama_name *ln = llama_name_lookup(t->name, NAME_HF, &layer);
        if (!ln)
            return BAD(ck->files[t->file].path, t->name, "unexpected tensor for a Llama model");
        if ((rc = add_plan(m, ln, layer, t, &ck->files[t->file], err))) return rc;
        struct ferry_plan_tensor *p = &m->t[m->nt - 1];
        if (!strcmp(ln->gguf, "attn_q.weight"))
            p->perm = FERRY_PERM_HF_TO_GGUF, p->perm_heads = m->hp.n_head;
        if (!strcmp(ln->gguf, "attn_k.weight"))
            p->perm = FERRY_PERM_HF_TO_GGUF, p->perm_heads = m->hp.n_head_kv;
    }
    return attach_fp8_scales(m, ck, err);
}

static int open_meta(struct ferry_llama *m, const char *dir, struct ferry_error *err)
{
    int rc = meta_params(m, dir, err);
    if (rc) return rc;
    m->layout = FERRY_LAYOUT_META;
    snprintf(m->source_format, sizeof(m->source_format), "meta");
    char pattern[4200];
    snprintf(pattern, sizeof(pattern), "%s/consolidated.*.pth", dir);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0 || g.gl_pathc > 16) {
        if (g.gl_pathc) globfree(&g);
        return ferry_error_set(err, FERRY_ENOINPUT, dir, FERRY_NO_OFFSET, NULL,
                               "no consolidated.NN.pth shards (or more than 16)");
    }
    for (size_t i = 0; i < g.gl_pathc && !rc; i++) {
        char want[64];
        snprintf(want, sizeof(want), "consolidated.%02zu.pth", i);
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        if (strcmp(base, want))
            rc = ferry_error_set(err, FERRY_ENOINPUT, dir, FERRY_NO_OFFSET, want,
                                 "shard missing (found %s)", base);
        else
            rc = ferry_pytorch_read(&m->src[m->nsrc++], g.gl_pathv[i], err);
    }
    globfree(&g);
    if (rc) return rc;
    const struct ferry_ckpt *s0 = &m->src[0];
    m->t = calloc(s0->ntensors + 2, sizeof(*m->t));
    if (!m->t) return ferry_error_set(err, FERRY_EINTERNAL, dir, FERRY_NO_OFFSET, NULL, "oom");
    for (uint64_t i = 0; i < s0->ntensors; i++) {
        const struct ferry_tensor *t = &s0->tensors[i];
        int layer;
        if (llama_name_skipped(t->name)) continue;
        const struct llama_name *ln = llama_name_lookup(t->name, NAME_META, &layer);
        if (!ln) return BAD(s0->files[0].path, t->name, "unexpected tensor for a Llama model");
        if ((rc = add_plan(m, ln, layer, t, &s0->files[t->file], err))) return rc;
        struct ferry_plan_tensor *p = &m->t[m->nt - 1];
        if (t->ndim == 1 || m->nsrc == 1) continue; /* norms are replicated: shard 0 */
        /* model-parallel pieces: wo, w2 and (Llama 1/2) the embedding split by columns */
        int by_cols = ends_with(t->name, ".attention.wo.weight") ||
                      ends_with(t->name, ".feed_forward.w2.weight") ||
                      (!strcmp(t->name, "tok_embeddings.weight") &&
                       !(m->hp.n_vocab >= 128000 || m->hp.rope_theta >= 500000.0f));
        p->concat_axis = by_cols;
        for (uint32_t k = 1; k < m->nsrc; k++) {
            const struct ferry_tensor *o = ferry_ckpt_find_tensor(&m->src[k], t->name);
            if (!o || o->ndim != 2 || o->shape[by_cols ? 0 : 1] != t->shape[by_cols ? 0 : 1] ||
                o->dtype != t->dtype)
                return BAD(m->src[k].files[0].path, t->name,
                           "missing or of another shape than in shard 0");
            p->parts[p->nparts].map = &m->src[k].files[o->file];
            p->parts[p->nparts++].t = o;
            if (by_cols)
                p->cols += o->shape[1];
            else
                p->rows += o->shape[0];
        }
        p->shape[0] = p->rows;
        p->shape[1] = p->cols;
    }
    for (uint64_t i = 0; i < m->nt; i++) {
        if (!strcmp(m->t[i].name, "token_embd.weight") && !m->hp.n_vocab)
            m->hp.n_vocab = (uint32_t)m->t[i].rows;
        if (!strcmp(m->t[i].name, "blk.0.ffn_gate.weight")) m->hp.n_ff = (uint32_t)m->t[i].rows;
    }
    return 0;
}

static int kv_u32(const struct ferry_ckpt *ck, const char *key, uint32_t *v)
{
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, key);
    int64_t x;
    if (!kv || ferry_value_as_i64(&kv->val, &x) || x <= 0 || x > UINT32_MAX) return -1;
    *v = (uint32_t)x;
    return 0;
}

static float kv_f32(const struct ferry_ckpt *ck, const char *key, float dflt)
{
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, key);
    return kv && (kv->val.type == FERRY_V_F32 || kv->val.type == FERRY_V_F64) ? (float)kv->val.v.f
                                                                              : dflt;
}

static int open_gguf(struct ferry_llama *m, const char *path, struct ferry_error *err)
{
    m->nsrc = 1; /* llama_close releases whatever the reader kept, also on failure */
    int rc = ferry_gguf_read(&m->src[0], path, err);
    if (rc) return rc;
    m->layout = FERRY_LAYOUT_GGUF;
    snprintf(m->source_format, sizeof(m->source_format), "gguf");
    const struct ferry_ckpt *ck = &m->src[0];
    const struct ferry_kv *arch = ferry_ckpt_find_kv(ck, "general.architecture");
    if (!arch || arch->val.type != FERRY_V_STRING || strcmp(arch->val.v.str.s, "llama"))
        return BAD(path, "general.architecture",
                   "only llama GGUF files can be converted as models");
    struct ferry_llama_hparams *hp = &m->hp;
    if (kv_u32(ck, "llama.block_count", &hp->n_layer) ||
        kv_u32(ck, "llama.embedding_length", &hp->n_embd) ||
        kv_u32(ck, "llama.feed_forward_length", &hp->n_ff) ||
        kv_u32(ck, "llama.attention.head_count", &hp->n_head))
        return BAD(path, NULL, "llama hyperparameter keys missing");
    if (kv_u32(ck, "llama.attention.head_count_kv", &hp->n_head_kv)) hp->n_head_kv = hp->n_head;
    if (kv_u32(ck, "llama.context_length", &hp->n_ctx)) hp->n_ctx = 2048;
    hp->rope_theta = kv_f32(ck, "llama.rope.freq_base", 10000.0f);
    hp->rms_eps = kv_f32(ck, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    hp->has_head_dim = !kv_u32(ck, "llama.attention.key_length", &hp->head_dim);
    if (!hp->has_head_dim) hp->head_dim = hp->n_embd / hp->n_head;
    m->t = calloc(ck->ntensors + 2, sizeof(*m->t));
    if (!m->t) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    for (uint64_t i = 0; i < ck->ntensors; i++) {
        const struct ferry_tensor *t = &ck->tensors[i];
        int layer;
        if (!strcmp(t->name, "rope_freqs.weight")) {
            if (t->dtype != FERRY_DT_F32 || t->nelem != hp->head_dim / 2)
                return BAD(path, t->name, "malformed");
            m->rope_freqs = malloc(t->nbytes);
            if (!m->rope_freqs)
                return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
            memcpy(m->rope_freqs, t->data, t->nbytes);
            snprintf(hp->rope_type, sizeof(hp->rope_type), "llama3");
            recover_llama3(hp, m->rope_freqs);
            continue;
        }
        const struct llama_name *ln = llama_name_lookup(t->name, NAME_GGUF, &layer);
        if (!ln) return BAD(path, t->name, "unexpected tensor for a Llama model");
        if ((rc = add_plan(m, ln, layer, t, &ck->files[t->file], err))) return rc;
    }
    for (uint64_t i = 0; i < m->nt; i++)
        if (!strcmp(m->t[i].name, "token_embd.weight")) hp->n_vocab = (uint32_t)m->t[i].rows;
    return 0;
}

/* llama.c .bin: per-layer tensors are stacked [n_layers, rows, cols]; each layer is a slice
 * (row0) of the stack. Weights are in Meta's interleaved rope layout. */
static int open_llama2c(struct ferry_llama *m, const char *path, struct ferry_error *err)
{
    m->nsrc = 1; /* llama_close releases whatever the reader kept, also on failure */
    int rc = ferry_llama2c_read(&m->src[0], path, err);
    if (rc) return rc;
    m->layout = FERRY_LAYOUT_LLAMA2C;
    snprintf(m->source_format, sizeof(m->source_format), "llama2c");
    struct ferry_llama2c_config c;
    ferry_llama2c_read_config(&m->src[0], &c);
    struct ferry_llama_hparams *hp = &m->hp;
    hp->n_embd = (uint32_t)c.dim, hp->n_ff = (uint32_t)c.hidden_dim,
    hp->n_layer = (uint32_t)c.n_layers;
    hp->n_head = (uint32_t)c.n_heads, hp->n_head_kv = (uint32_t)c.n_kv_heads;
    hp->n_vocab = (uint32_t)c.vocab_size, hp->n_ctx = (uint32_t)c.seq_len;
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->rope_theta = 10000.0f, hp->rms_eps = 1e-5f;
    hp->tied = c.shared_classifier;
    static const struct {
        const char *src, *gguf;
    } map[] = {{"token_embedding_table", "token_embd.weight"},
               {"rms_att_weight", "attn_norm.weight"},
               {"wq", "attn_q.weight"},
               {"wk", "attn_k.weight"},
               {"wv", "attn_v.weight"},
               {"wo", "attn_output.weight"},
               {"rms_ffn_weight", "ffn_norm.weight"},
               {"w1", "ffn_gate.weight"},
               {"w2", "ffn_down.weight"},
               {"w3", "ffn_up.weight"},
               {"rms_final_weight", "output_norm.weight"},
               {"wcls", "output.weight"}};
    const struct ferry_ckpt *ck = &m->src[0];
    m->t = calloc((uint64_t)hp->n_layer * 9 + 8, sizeof(*m->t));
    if (!m->t) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
        const struct ferry_tensor *t = ferry_ckpt_find_tensor(ck, map[k].src);
        if (!t) continue;
        int per_layer = strcmp(map[k].src, "token_embedding_table") &&
                        strcmp(map[k].src, "rms_final_weight") && strcmp(map[k].src, "wcls");
        uint32_t nl = per_layer ? hp->n_layer : 1;
        for (uint32_t l = 0; l < nl; l++) {
            struct ferry_plan_tensor *p = &m->t[m->nt++];
            memset(p, 0, sizeof(*p));
            if (per_layer)
                snprintf(p->name, sizeof(p->name), "blk.%u.%s", l, map[k].gguf);
            else
                snprintf(p->name, sizeof(p->name), "%s", map[k].gguf);
            int vec = t->ndim == 1 || (per_layer && t->ndim == 2);
            p->cols = t->shape[t->ndim - 1];
            p->rows = vec ? 1 : t->shape[t->ndim - 2];
            p->ndim = vec ? 1 : 2;
            p->shape[0] = vec ? p->cols : p->rows;
            p->shape[1] = p->cols;
            p->parts[0].t = t;
            p->parts[0].map = &ck->files[0];
            p->parts[0].row0 = per_layer ? (uint64_t)l * p->rows : 0;
            p->nparts = 1;
        }
    }
    return 0;
}

/* The same sanity checks for hyperparameters from every source (config.json, params.json,
 * GGUF keys, a llama2.c header): the attention code divides by these counts and sizes the KV
 * cache from them, so a count that does not divide, or a size no Llama has, is refused here
 * rather than met as a division by zero or a read past the cache. */
#define LIMIT_HEADS    1024u
#define LIMIT_HEAD_DIM 1024u
#define LIMIT_LAYERS   1024u
#define LIMIT_EMBD     (1u << 20)
static int check_hparams(const struct ferry_llama_hparams *hp, const char *path,
                         struct ferry_error *err)
{
    if (!hp->n_head || !hp->n_head_kv || hp->n_head_kv > hp->n_head || hp->n_head % hp->n_head_kv)
        return BAD(path, "head_count_kv",
                   "%u key/value heads do not divide %u attention heads (grouped-query "
                   "attention needs head_count to be a multiple of head_count_kv)",
                   hp->n_head_kv, hp->n_head);
    if (!hp->has_head_dim && hp->n_embd % hp->n_head)
        return BAD(path, "head_count", "embedding length %u is not a multiple of %u heads",
                   hp->n_embd, hp->n_head);
    if (!hp->head_dim || hp->head_dim % 2)
        return BAD(path, "key_length",
                   "head size %u is not a positive even number (RoPE rotates pairs)", hp->head_dim);
    /* the rope values divide and take powers: a zero, a negative or equal frequency factors
     * would give infinities and NaNs in every position's rotation, not an error */
    if (!isfinite(hp->rope_theta) || hp->rope_theta <= 1.0f)
        return BAD(path, "rope_theta", "%g is not a RoPE base (a finite number above 1)",
                   (double)hp->rope_theta);
    int llama3 = !strcmp(hp->rope_type, "llama3");
    if ((llama3 || !strcmp(hp->rope_type, "linear")) &&
        (!isfinite(hp->rope_factor) || hp->rope_factor <= 0.0f))
        return BAD(path, "rope_scaling", "factor %g is not a positive number",
                   (double)hp->rope_factor);
    if (llama3 && (!(hp->low_freq_factor > 0.0f) || !(hp->high_freq_factor > hp->low_freq_factor) ||
                   !isfinite(hp->high_freq_factor) || hp->orig_ctx == 0))
        return BAD(path, "rope_scaling",
                   "llama3 scaling needs 0 < low_freq_factor < high_freq_factor and a positive "
                   "original_max_position_embeddings (got %g, %g, %u)",
                   (double)hp->low_freq_factor, (double)hp->high_freq_factor, hp->orig_ctx);
    if (hp->n_head > LIMIT_HEADS || hp->head_dim > LIMIT_HEAD_DIM || hp->n_layer > LIMIT_LAYERS ||
        hp->n_embd > LIMIT_EMBD)
        return BAD(path, NULL,
                   "implausible size: %u heads of %u, %u layers, embedding %u (ferry's limits: "
                   "%u heads, head size %u, %u layers, embedding %u)",
                   hp->n_head, hp->head_dim, hp->n_layer, hp->n_embd, LIMIT_HEADS, LIMIT_HEAD_DIM,
                   LIMIT_LAYERS, LIMIT_EMBD);
    return 0;
}

int ferry_llama_open(struct ferry_llama *m, const char *path, struct ferry_error *err)
{
    memset(m, 0, sizeof(*m));
    char root[3800];
    int kind = ferry_path_kind(path);
    if (kind == 0 && ferry_archive_name(path)) { /* an archive is read as the folder it holds */
        ferry_archive_root(path, root, sizeof(root));
        path = root, kind = 1;
    }
    if (kind < 0) {
        struct stat st;
        int e = stat(path, &st) == 0 ? EINVAL : errno;
        return ferry_error_set(err, ferry_errno_code(e), path, FERRY_NO_OFFSET, NULL, "%s",
                               e == EINVAL ? "not a file or folder" : strerror(e));
    }
    int isdir = kind == 1;
    char p[4200], *dup = strdup(path);
    size_t l = strlen(dup);
    while (l > 1 && dup[l - 1] == '/') dup[--l] = 0;
    snprintf(m->name, sizeof(m->name), "%s", basename(dup));
    free(dup);
    int rc;
    const char *dir = path;
    size_t plen = strlen(path);
    if (!isdir && plen > 4 && !strcmp(path + plen - 4, ".bin")) {
        rc = open_llama2c(m, path, err);
        char *d2 = strdup(path);
        snprintf(p, sizeof(p), "%s", d2 ? dirname(d2) : ".");
        free(d2);
        dir = p;
        char *dot = strrchr(m->name, '.');
        if (dot) *dot = 0;
    } else if (!isdir) {
        rc = open_gguf(m, path, err);
        char *d2 = strdup(path);
        snprintf(p, sizeof(p), "%s", d2 ? dirname(d2) : ".");
        free(d2);
        dir = p;
        char *dot = strrchr(m->name, '.');
        if (dot) *dot = 0;
    } else if (exists(path, "config.json", p, sizeof(p)))
        rc = open_hf(m, path, err);
    else if (exists(path, "params.json", p, sizeof(p)))
        rc = open_meta(m, path, err);
    else
        return ferry_error_set(err, FERRY_ENOINPUT, path, FERRY_NO_OFFSET, NULL,
                               "not a model directory (no config.json or params.json)");
    if (!rc) rc = check_hparams(&m->hp, path, err);
    if (!rc && m->hp.rope_type[0] && !strcmp(m->hp.rope_type, "llama3") && !m->rope_freqs)
        rc = rope_freqs(m, err);
    if (!rc && m->rope_freqs) {
        struct ferry_plan_tensor *r = &m->t[m->nt++];
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "rope_freqs.weight");
        r->ndim = 1;
        r->rows = 1;
        r->cols = r->shape[0] = m->hp.head_dim / 2;
        r->generated = m->rope_freqs;
    }
    if (!rc) rc = check_shapes(m, path, err);
    if (!rc && m->layout != FERRY_LAYOUT_GGUF && m->layout != FERRY_LAYOUT_LLAMA2C)
        rc = open_vocab(m, path, err);
    if (!rc && m->layout == FERRY_LAYOUT_GGUF) {
        int v = ferry_vocab_from_kvs(&m->src[0], &m->vocab, err);
        if (v < 0)
            rc = v;
        else
            m->has_vocab = v == 0;
    }
    if (!rc && m->has_vocab) rc = ferry_vocab_check(&m->vocab, path, err);
    if (!rc && m->has_vocab && m->vocab.n > m->hp.n_vocab)
        rc = BAD(path, "vocab_size", "tokenizer has %llu tokens, the model %u",
                 (unsigned long long)m->vocab.n, m->hp.n_vocab);
    if (!rc) qsort(m->t, m->nt, sizeof(*m->t), cmp_plan);
    if (!rc && exists(dir, "LICENSE", m->license_path, sizeof(m->license_path)) == 0)
        m->license_path[0] = 0;
    return rc;
}

void ferry_llama_close(struct ferry_llama *m)
{
    for (uint32_t i = 0; i < m->nsrc; i++) ferry_ckpt_free(&m->src[i]);
    free(m->t);
    free(m->rope_freqs);
    ferry_vocab_free(&m->vocab);
    memset(m, 0, sizeof(*m));
}
