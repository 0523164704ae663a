/* Model-aware outputs other than GGUF: a Hugging Face directory (config.json, safetensors
 * shards with their index or pytorch_model.bin, tokenizer and license files) or a Meta
 * directory (params.json, consolidated.00.pth). Q/K rows are moved to the target's layout and
 * block types are dequantized. */
#define _GNU_SOURCE
#include "llama.h"
#include "llama_names.h"
#include "llama_stream.h"
#include "ferry/convert.h"
#include "ferry/file.h"
#include "ferry/json_file.h"
#include "ferry/hash.h"
#include "ferry/pytorch.h"
#include "ferry/safetensors.h"
#include "ferry/vocab.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

/* Tokenizer and license files travel with the weights. */
static int copy_side_files(const char *srcdir, const char *dst, int force, struct ferry_error *err)
{
    static const char *files[] = {"tokenizer.model",
                                  "tokenizer.json",
                                  "tokenizer_config.json",
                                  "special_tokens_map.json",
                                  "generation_config.json",
                                  "LICENSE",
                                  "LICENSE.txt",
                                  "USE_POLICY.md",
                                  "NOTICE",
                                  "NOTICE.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char a[4200], b[4200];
        struct stat st;
        int la = snprintf(a, sizeof(a), "%s/%s", srcdir, files[i]);
        int lb = snprintf(b, sizeof(b), "%s/%s", dst, files[i]);
        if (la < 0 || lb < 0 || (size_t)la >= sizeof(a) || (size_t)lb >= sizeof(b)) continue;
        if (stat(a, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        int rc = ferry_copy_file(a, b, force, err);
        if (rc) return rc;
    }
    return 0;
}

/* sentencepiece ModelProto with the pieces of a GGUF "llama" vocabulary (no trainer or
 * normalizer specs: enough for ferry and llama.cpp's converter). */
static int write_spm(const struct ferry_ckpt *g, const char *path, int force,
                     struct ferry_error *err)
{
    const struct ferry_kv *toks = ferry_ckpt_find_kv(g, "tokenizer.ggml.tokens");
    const struct ferry_kv *scores = ferry_ckpt_find_kv(g, "tokenizer.ggml.scores");
    const struct ferry_kv *types = ferry_ckpt_find_kv(g, "tokenizer.ggml.token_type");
    const struct ferry_kv *model = ferry_ckpt_find_kv(g, "tokenizer.ggml.model");
    if (!toks || !scores || !types || !model || model->val.type != FERRY_V_STRING ||
        strcmp(model->val.v.str.s, "llama") || toks->val.elem_type != FERRY_V_STRING ||
        scores->val.elem_type != FERRY_V_F32 || types->val.elem_type != FERRY_V_I32 ||
        scores->val.count != toks->val.count || types->val.count != toks->val.count)
        return 0; /* not a sentencepiece vocabulary: nothing to write */
    return ferry_vocab_write_spm(toks->val.arr, scores->val.arr, types->val.arr, toks->val.count,
                                 path, force, err);
}

/* Meta's params.json does not state the feed-forward size: Meta's code derives it from dim,
 * multiple_of and ffn_dim_multiplier (hidden = int(2 * 4 * dim / 3), times the multiplier,
 * rounded up to a multiple). The values that give back n_ff, preferring the multipliers Meta's
 * models use and the largest multiple; 0 when none does (mult 0: no multiplier). */
static uint64_t meta_round(uint64_t dim, double mult, uint64_t multiple_of)
{
    uint64_t h = 2 * (4 * dim) / 3;
    if (mult > 0) h = (uint64_t)(mult * (double)h);
    return multiple_of * ((h + multiple_of - 1) / multiple_of);
}

static int meta_ffn(uint32_t dim, uint32_t n_ff, uint64_t *multiple_of, double *mult)
{
    double base = (double)(2 * (4 * (uint64_t)dim) / 3), derived = (double)n_ff / base;
    const double mults[] = {0,
                            1.3,
                            1.5,
                            1.2,
                            1.0,
                            (double)(int64_t)(derived * 100 + 0.5) / 100,
                            (double)(int64_t)(derived * 1000 + 0.5) / 1000};
    for (size_t k = 0; k < sizeof(mults) / sizeof(mults[0]); k++)
        for (uint64_t mo = 4096; mo >= 1; mo /= 2)
            if (meta_round(dim, mults[k], mo) == n_ff) {
                *multiple_of = mo, *mult = mults[k];
                return 0;
            }
    return -1;
}

static json_t *hf_config(const struct ferry_llama *m, const char *dtype)
{
    const struct ferry_llama_hparams *hp = &m->hp;
    json_t *c = json_pack(
        "{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:s}", "architectures",
        "LlamaForCausalLM", "model_type", "llama", "hidden_size", (json_int_t)hp->n_embd,
        "intermediate_size", (json_int_t)hp->n_ff, "num_hidden_layers", (json_int_t)hp->n_layer,
        "num_attention_heads", (json_int_t)hp->n_head, "num_key_value_heads",
        (json_int_t)hp->n_head_kv, "vocab_size", (json_int_t)hp->n_vocab, "max_position_embeddings",
        (json_int_t)hp->n_ctx, "rms_norm_eps", (double)hp->rms_eps, "rope_theta",
        (double)hp->rope_theta, "tie_word_embeddings", hp->tied, "torch_dtype", dtype,
        "ferry_version", FERRY_VERSION);
    /* both transformers shapes, saying the same: 4.x reads rope_theta, rope_scaling and
     * torch_dtype; 5.x reads rope_parameters and dtype. head_dim is written where the source
     * gave one (both default it to hidden_size / num_attention_heads, as llama.cpp does) */
    json_object_set_new(c, "dtype", json_string(dtype));
    if (hp->has_head_dim) json_object_set_new(c, "head_dim", json_integer(hp->head_dim));
    json_t *rs = NULL;
    if (!strcmp(hp->rope_type, "llama3") && hp->orig_ctx)
        rs = json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor",
                       (double)hp->rope_factor, "low_freq_factor", (double)hp->low_freq_factor,
                       "high_freq_factor", (double)hp->high_freq_factor,
                       "original_max_position_embeddings", (json_int_t)hp->orig_ctx);
    else if (!strcmp(hp->rope_type, "linear"))
        rs = json_pack("{s:s, s:s, s:f}", "type", "linear", "rope_type", "linear", "factor",
                       (double)hp->rope_factor);
    json_t *rp = rs ? json_deep_copy(rs) : json_pack("{s:s}", "rope_type", "default");
    json_object_set_new(rp, "rope_theta", json_real((double)hp->rope_theta));
    json_object_del(rp, "type");
    json_object_set_new(c, "rope_parameters", rp);
    if (rs) json_object_set_new(c, "rope_scaling", rs);
    if (m->has_vocab && m->vocab.bos >= 0)
        json_object_set_new(c, "bos_token_id", json_integer(m->vocab.bos));
    if (m->has_vocab && m->vocab.eos >= 0)
        json_object_set_new(c, "eos_token_id", json_integer(m->vocab.eos));
    return c;
}

static const char *torch_dtype(enum ferry_dtype dt)
{
    return dt == FERRY_DT_F16 ? "float16" : dt == FERRY_DT_BF16 ? "bfloat16" : "float32";
}

/* A stream over a slice of the output tensors (one shard). */
struct shard_stream {
    struct llama_stream *s;
    uint64_t base;
};

static int shard_source(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                        struct ferry_error *err)
{
    struct shard_stream *ss = ctx;
    return llama_stream_source(ss->s, ss->base + i, off, n, dst, err);
}

/* model.safetensors, or model-0000k-of-0000n.safetensors shards of at most shard_size bytes with
 * model.safetensors.index.json as transformers writes them. */
static int write_safetensors_shards(struct ferry_ckpt *d, struct llama_stream *j, const char *dst,
                                    uint64_t shard_size, int force, struct ferry_error *err)
{
    char path[4200];
    uint64_t total = 0;
    for (uint64_t i = 0; i < d->ntensors; i++) total += d->tensors[i].nbytes;
    if (!shard_size || total <= shard_size) {
        snprintf(path, sizeof(path), "%s/model.safetensors", dst);
        return ferry_safetensors_write(d, path, force, llama_stream_source, j, err);
    }
    uint64_t *first = calloc(d->ntensors + 2, sizeof(uint64_t)), cur = 0;
    uint32_t n = 0;
    if (!first) return ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "oom");
    for (uint64_t i = 0; i < d->ntensors; i++) {
        if (i == 0 || (cur + d->tensors[i].nbytes > shard_size && cur > 0)) first[n++] = i, cur = 0;
        cur += d->tensors[i].nbytes;
    }
    first[n] = d->ntensors;
    json_t *map = json_object();
    int rc = 0;
    for (uint32_t k = 0; k < n && !rc; k++) {
        char name[64];
        snprintf(name, sizeof(name), "model-%05u-of-%05u.safetensors", k + 1, n);
        snprintf(path, sizeof(path), "%s/%s", dst, name);
        struct ferry_ckpt sd = *d;
        sd.tensors = d->tensors + first[k];
        sd.ntensors = first[k + 1] - first[k];
        struct shard_stream ss = {j, first[k]};
        rc = ferry_safetensors_write(&sd, path, force, shard_source, &ss, err);
        for (uint64_t i = first[k]; !rc && i < first[k + 1]; i++)
            json_object_set_new(map, d->tensors[i].name, json_string(name));
    }
    free(first);
    if (rc) {
        json_decref(map);
        return rc;
    }
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dst);
    return ferry_json_save(
        path,
        json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map),
        force, err);
}

int llama_export(struct ferry_llama *m, const char *src, const char *dst,
                 const struct ferry_convert_opts *o, struct ferry_error *err)
{
    enum ferry_dtype want = FERRY_DT_INVALID; /* keep */
    const char *type = o->type ? o->type : "keep";
    if (!strcasecmp(type, "f32"))
        want = FERRY_DT_F32;
    else if (!strcasecmp(type, "f16"))
        want = FERRY_DT_F16;
    else if (!strcasecmp(type, "bf16"))
        want = FERRY_DT_BF16;
    else if (strcasecmp(type, "keep"))
        return ferry_error_set(
            err, FERRY_EUSAGE, dst, FERRY_NO_OFFSET, NULL,
            "--type for Hugging Face, PyTorch and Meta outputs is f32, f16, bf16 or keep");
    int meta = o->to == FERRY_FMT_META;
    /* the directory is built whole under a temporary name (see ferry_outdir): a kill at any
     * point leaves no half-written model under DST, and a rerun starts clean */
    struct ferry_outdir od;
    int orc = ferry_outdir_open(&od, dst, o->force, err);
    if (orc) return orc;
    const char *final_dst = dst;
    dst = od.tmp;
    struct ferry_plan_tensor *plans = calloc(m->nt + 1, sizeof(*plans));
    const struct ferry_plan_tensor **pp = calloc(m->nt + 1, sizeof(*pp));
    struct ferry_ckpt d;
    ferry_ckpt_init(&d);
    int rc =
        plans && pp ? 0 : ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "oom");
    enum ferry_dtype first = FERRY_DT_INVALID;
    uint64_t n = 0;
    for (uint64_t i = 0; !rc && i < m->nt; i++) {
        const struct ferry_plan_tensor *p = &m->t[i];
        if (p->generated) continue; /* rope_freqs: the config/params carry the rope scaling */
        int layer;
        const struct llama_name *ln = llama_name_lookup(p->name, NAME_GGUF, &layer);
        if (!ln) continue;
        plans[n] = *p;
        struct ferry_plan_tensor *q = &plans[n];
        int qk = !strcmp(ln->gguf, "attn_q.weight") || !strcmp(ln->gguf, "attn_k.weight");
        uint32_t heads = !strcmp(ln->gguf, "attn_q.weight") ? m->hp.n_head : m->hp.n_head_kv;
        /* plans hold GGUF/Meta (interleaved) rows: HF sources permute into it, which an HF
         * output undoes by not permuting at all */
        if (qk && !meta)
            q->perm = m->layout == FERRY_LAYOUT_HF ? FERRY_PERM_NONE : FERRY_PERM_GGUF_TO_HF,
            q->perm_heads = heads;
        char name[128];
        llama_name_format(ln, meta ? NAME_META : NAME_HF, layer, name, sizeof(name));
        struct ferry_tensor *t = ferry_ckpt_add_tensor(&d, name, strlen(name));
        if (!t) {
            rc = ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "oom");
            break;
        }
        enum ferry_dtype sdt = p->parts[0].t->dtype;
        enum ferry_dtype out =
            want != FERRY_DT_INVALID                                               ? want
            : (sdt == FERRY_DT_F32 || sdt == FERRY_DT_F16 || sdt == FERRY_DT_BF16) ? sdt
                                                                                   : FERRY_DT_F32;
        if (first == FERRY_DT_INVALID && p->ndim == 2) first = out;
        t->dtype = out;
        t->ndim = p->ndim;
        memcpy(t->shape, p->shape, sizeof(uint64_t) * p->ndim);
        t->nelem = p->rows * p->cols;
        t->nbytes = t->nelem * ferry_dtype_elem_size(out);
        pp[n] = q;
        n++;
    }
    if (!rc && !meta) {
        struct ferry_kv *kv = ferry_ckpt_add_kv(&d, "format", 6);
        if (!kv || ferry_ckpt_kv_set_string(kv, "pt", 2))
            rc = ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "oom");
    }
    struct llama_stream j = {.m = m,
                             .plans = pp,
                             .desc = &d,
                             .threads = o->threads ? o->threads : ferry_cpu_count(),
                             .progress = o->progress,
                             .progress_ctx = o->progress_ctx,
                             .cancel = o->cancel};
    if (j.threads > 64) j.threads = 64;
    char path[4200];
    if (!rc && meta) {
        snprintf(path, sizeof(path), "%s/consolidated.00.pth", dst);
        rc = ferry_pytorch_write(&d, path, o->force, llama_stream_source, &j, err);
    } else if (!rc && o->to == FERRY_FMT_PYTORCH) {
        snprintf(path, sizeof(path), "%s/pytorch_model.bin", dst);
        rc = ferry_pytorch_write(&d, path, o->force, llama_stream_source, &j, err);
    } else if (!rc) {
        rc = write_safetensors_shards(&d, &j, dst, o->shard_size, o->force, err);
    }
    if (!rc && meta) {
        const struct ferry_llama_hparams *hp = &m->hp;
        json_t *pj = json_pack("{s:i, s:i, s:i, s:i, s:i, s:f, s:f}", "dim", (json_int_t)hp->n_embd,
                               "n_layers", (json_int_t)hp->n_layer, "n_heads",
                               (json_int_t)hp->n_head, "n_kv_heads", (json_int_t)hp->n_head_kv,
                               "vocab_size", (json_int_t)hp->n_vocab, "norm_eps",
                               (double)hp->rms_eps, "rope_theta", (double)hp->rope_theta);
        if (!strcmp(hp->rope_type, "llama3"))
            json_object_set_new(pj, "use_scaled_rope", json_true());
        uint64_t mo;
        double mult;
        if (meta_ffn(hp->n_embd, hp->n_ff, &mo, &mult) == 0) {
            json_object_set_new(pj, "multiple_of", json_integer((json_int_t)mo));
            if (mult > 0) json_object_set_new(pj, "ffn_dim_multiplier", json_real(mult));
        }
        json_object_set_new(pj, "max_seq_len", json_integer((json_int_t)hp->n_ctx));
        snprintf(path, sizeof(path), "%s/params.json", dst);
        rc = ferry_json_save(path, pj, o->force, err);
    } else if (!rc) {
        snprintf(path, sizeof(path), "%s/config.json", dst);
        rc = ferry_json_save(path, hf_config(m, torch_dtype(first)), o->force, err);
    }
    char srcdir[4200];
    snprintf(srcdir, sizeof(srcdir), "%s", src);
    if (m->layout == FERRY_LAYOUT_GGUF) {
        char *dup = strdup(src);
        snprintf(srcdir, sizeof(srcdir), "%s", dup ? dirname(dup) : ".");
        free(dup);
        /* the GGUF's vocabulary as the tokenizer files the output layout uses: Meta's
         * tokenizer.model (tiktoken or sentencepiece); for Hugging Face, tokenizer.json and its
         * configs, and a sentencepiece vocabulary's tokenizer.model too, as the hub's Llama 2
         * repositories carry both */
        int bpe = m->has_vocab && !strcmp(m->vocab.model, "gpt2");
        snprintf(path, sizeof(path), "%s/tokenizer.model", dst);
        if (!rc && bpe && meta)
            rc = ferry_vocab_write_tiktoken(&m->vocab, path, o->force, err);
        else if (!rc && !bpe)
            rc = write_spm(&m->src[0], path, o->force, err);
        snprintf(path, sizeof(path), "%s/tokenizer.json", dst);
        if (!rc && m->has_vocab && !meta)
            rc = ferry_vocab_write_tokenizer_json(&m->vocab, path, o->force, err);
        if (!rc && m->has_vocab && !meta)
            rc = ferry_vocab_write_hf_configs(&m->vocab, dst, m->hp.n_ctx, o->force, err);
    }
    if (!rc && m->layout != FERRY_LAYOUT_GGUF) rc = copy_side_files(srcdir, dst, o->force, err);
    if (!rc) rc = ferry_outdir_commit(&od, err);
    if (rc && err && !strncmp(err->file, od.tmp, strlen(od.tmp))) {
        /* name the output the user asked for, not the staging directory */
        char f[sizeof(err->file)];
        snprintf(f, sizeof(f), "%s%s", final_dst, err->file + strlen(od.tmp));
        snprintf(err->file, sizeof(err->file), "%s", f);
    }
    ferry_outdir_abort(&od);
    ferry_ckpt_free(&d);
    free(plans);
    free(pp);
    return rc;
}
