/* Model-aware conversion to GGUF: output types per tensor, metadata in llama.cpp's keys and
 * value types, and a streaming source that converts rows on all cores. */
#define _GNU_SOURCE
#include "llama.h"
#include "llama_stream.h"
#include "ferry/convert.h"
#include "ferry/gguf.h"
#include "ferry/archive.h"
#include "ferry/hash.h"
#include "ferry/imatrix.h"
#include "ferry/quant.h"
#include "ferry/file.h"

#include <openssl/evp.h>

#include <pthread.h>
#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

static const struct {
    const char *name;
    enum ferry_dtype dt;
    uint32_t file_type; /* general.file_type (llama_ftype) */
    int mix; /* 1: llama-quantize's per-tensor choices for this file type (q8_0 has none: its
              * output stays Q8_0 there too) */
} types[] = {
    {"f32", FERRY_DT_F32, 0, 0},        {"f16", FERRY_DT_F16, 1, 0},
    {"bf16", FERRY_DT_BF16, 32, 0},     {"q8_0", FERRY_DT_Q8_0, 7, 0},
    {"q4_0", FERRY_DT_Q4_0, 2, 1},      {"q4_1", FERRY_DT_Q4_1, 3, 1},
    {"q5_0", FERRY_DT_Q5_0, 8, 1},      {"q5_1", FERRY_DT_Q5_1, 9, 1},
    {"q2_k", FERRY_DT_Q2_K, 10, 1},     {"q3_k_s", FERRY_DT_Q3_K, 11, 1},
    {"q3_k", FERRY_DT_Q3_K, 12, 1},     {"q3_k_m", FERRY_DT_Q3_K, 12, 1},
    {"q3_k_l", FERRY_DT_Q3_K, 13, 1},   {"q4_k", FERRY_DT_Q4_K, 14, 1},
    {"q4_k_s", FERRY_DT_Q4_K, 14, 1},   {"q4_k_m", FERRY_DT_Q4_K, 15, 1},
    {"q5_k", FERRY_DT_Q5_K, 16, 1},     {"q5_k_s", FERRY_DT_Q5_K, 16, 1},
    {"q5_k_m", FERRY_DT_Q5_K, 17, 1},   {"q6_k", FERRY_DT_Q6_K, 18, 1},
    {"iq4_nl", FERRY_DT_IQ4_NL, 25, 1}, {"iq4_xs", FERRY_DT_IQ4_XS, 30, 1},
    {"tq1_0", FERRY_DT_TQ1_0, 36, 1},   {"tq2_0", FERRY_DT_TQ2_0, 37, 1},
    {"iq3_xs", FERRY_DT_IQ3_S, 22, 1},  {"iq3_s", FERRY_DT_IQ3_S, 26, 1},
    {"iq3_m", FERRY_DT_IQ3_S, 27, 1},   {"iq3_xxs", FERRY_DT_IQ3_XXS, 23, 1},
    {"q2_k_s", FERRY_DT_Q2_K, 21, 1},   {"iq2_xxs", FERRY_DT_IQ2_XXS, 19, 1},
    {"iq2_xs", FERRY_DT_IQ2_XS, 20, 1}, {"iq2_s", FERRY_DT_IQ2_XS, 28, 1},
    {"iq2_m", FERRY_DT_IQ2_S, 29, 1},   {"iq1_s", FERRY_DT_IQ1_S, 24, 1},
    {"iq1_m", FERRY_DT_IQ1_M, 31, 1},
};
#define TYPE_NAMES                                                                                 \
    "f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k_s q3_k(_m) q3_k_l q4_k(_s) q4_k_m q5_k(_s) "  \
    "q5_k_m q6_k q2_k_s iq1_s iq1_m iq2_xxs iq2_xs iq2_s iq2_m iq3_xxs iq3_xs iq3_s iq3_m iq4_nl " \
    "iq4_xs tq1_0 tq2_0 keep"

enum {
    FT_Q4_0 = 2,
    FT_Q5_0 = 8,
    FT_IQ2_XXS = 19,
    FT_IQ2_XS = 20,
    FT_Q2_K_S = 21,
    FT_IQ3_XS = 22,
    FT_IQ3_XXS = 23,
    FT_IQ1_S = 24,
    FT_IQ4_NL = 25,
    FT_IQ3_S = 26,
    FT_IQ3_M = 27,
    FT_IQ2_S = 28,
    FT_IQ2_M = 29,
    FT_IQ4_XS = 30,
    FT_IQ1_M = 31,
    FT_TQ1_0 = 36,
    FT_TQ2_0 = 37
};
enum { FT_Q2_K = 10, FT_Q3_K_S, FT_Q3_K_M, FT_Q3_K_L, FT_Q4_K_S, FT_Q4_K_M, FT_Q5_K_S, FT_Q5_K_M };

/* llama-quantize spends more bits on a share of the layers: the first and last eighth and
 * every third one between */
static int use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* What llama-quantize's per-tensor rules (llama_tensor_get_type, dense Llama) give a 2-D weight
 * for a legacy, k, IQ or ternary file type: the output matrix (or tied embeddings) as Q6_K
 * (Q5_K for the 1- and 2-bit types and iq3_xxs), more bits for attn_v, ffn_down and
 * attn_output by file type and layer (and whether an importance matrix is given), IQ3_XXS for
 * iq3_xs's attn_q/attn_k and middle ffn_gate/ffn_up, IQ2_S for iq3_xxs's, Q2_K, IQ3_S or Q4_K
 * embeddings for the lowest types, and the fallback when rows are not whole 256-element
 * super-blocks (IQ4_NL, Q4_0, Q5_0, Q5_1, Q8_0, else F16). FERRY_DT_INVALID: no type fits
 * (llama-quantize throws there). */
struct kq_model {
    uint32_t n_layer, n_gqa;
    int has_output, is_70b, has_imatrix;
    /* llama-quantize counts the attn_v and ffn_down tensors its rules have seen and uses the
     * count, not the layer in the name: a tensor given its type by --tensor-type is not
     * counted, and the layers after it move up one (byte-equal output needs the same) */
    int i_attn_v, i_ffn_down, i_ffn_gate, i_ffn_up;
};

static enum ferry_dtype kquant_fallback(enum ferry_dtype t, uint64_t cols);

/* --tensor-type's PATTERN: a POSIX extended regular expression searched for in the name (as
 * llama-quantize's std::regex_search); an invalid one matches nothing (checked when parsed) */
static int tensor_type_matches(const char *pattern, const char *name)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB)) return 0;
    int hit = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    return hit;
}

/* the 1- and 2-bit file types, whose rules llama-quantize takes apart from the others */
static int low_bit(uint32_t ft)
{
    return ft == FT_IQ2_XXS || ft == FT_IQ2_XS || ft == FT_IQ1_S || ft == FT_IQ2_S ||
           ft == FT_IQ2_M || ft == FT_IQ1_M;
}

/* their rules for the weights inside the blocks: more bits for attn_v, the first eighth of
 * ffn_down and attn_output (IQ3_S for iq2_s/iq2_m, else Q2_K or IQ2_XXS) */
static enum ferry_dtype low_bit_type(const char *name, enum ferry_dtype t, uint32_t ft,
                                     struct kq_model *km)
{
    int iq2sm = ft == FT_IQ2_S || ft == FT_IQ2_M;
    if (strstr(name, ".attn_v.")) {
        km->i_attn_v++;
        return km->n_gqa >= 4 ? FERRY_DT_Q4_K : iq2sm ? FERRY_DT_IQ3_S : FERRY_DT_Q2_K;
    }
    if (strstr(name, ".ffn_down")) {
        int layer = km->i_ffn_down++;
        if (layer < (int)km->n_layer / 8) return iq2sm ? FERRY_DT_IQ3_S : FERRY_DT_Q2_K;
    } else if (strstr(name, ".attn_output.")) {
        if (ft == FT_IQ1_S || ft == FT_IQ1_M) return FERRY_DT_IQ2_XXS;
        if (iq2sm) return FERRY_DT_IQ3_S;
    }
    return t;
}

static enum ferry_dtype kquant_type(const char *name, enum ferry_dtype base, uint32_t ft,
                                    uint64_t cols, struct kq_model *km)
{
    enum ferry_dtype t = base;
    int in_block = !strncmp(name, "blk.", 4), n = (int)km->n_layer, layer;
    if (!strcmp(name, "output.weight") || (!km->has_output && !strcmp(name, "token_embd.weight"))) {
        t = cols % 256                        ? FERRY_DT_Q8_0
            : low_bit(ft) || ft == FT_IQ3_XXS ? FERRY_DT_Q5_K
                                              : FERRY_DT_Q6_K;
    } else if (!strcmp(name, "token_embd.weight")) {
        if (ft == FT_TQ1_0 || ft == FT_TQ2_0)
            t = FERRY_DT_Q4_K;
        else if (ft == FT_IQ2_S || ft == FT_IQ2_M || ft == FT_IQ3_XXS)
            t = FERRY_DT_IQ3_S;
        else if (low_bit(ft))
            t = FERRY_DT_Q2_K;
    } else if (in_block && low_bit(ft)) {
        t = low_bit_type(name, t, ft, km);
    } else if (in_block && strstr(name, ".attn_v.")) {
        layer = km->i_attn_v++;
        if (ft == FT_Q2_K)
            t = km->n_gqa >= 4 ? FERRY_DT_Q4_K : FERRY_DT_Q3_K;
        else if (ft == FT_Q2_K_S && km->n_gqa >= 4)
            t = FERRY_DT_Q4_K;
        else if (ft == FT_IQ3_XXS)
            t = km->n_gqa >= 4     ? FERRY_DT_Q4_K
                : !km->has_imatrix ? FERRY_DT_IQ3_S
                                   : FERRY_DT_IQ3_XXS;
        else if (((ft == FT_IQ3_XS || ft == FT_IQ3_S) && km->n_gqa >= 4) || ft == FT_IQ3_M)
            t = FERRY_DT_Q4_K;
        else if (ft == FT_Q3_K_M)
            t = layer < 2 ? FERRY_DT_Q5_K : FERRY_DT_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = FERRY_DT_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && km->n_gqa >= 4)
            t = FERRY_DT_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(layer, n))
            t = FERRY_DT_Q6_K;
        else if (ft == FT_Q4_K_S && layer < 4)
            t = FERRY_DT_Q5_K;
        if (km->is_70b && (t == FERRY_DT_Q3_K || t == FERRY_DT_Q4_K)) t = FERRY_DT_Q5_K;
    } else if (in_block && strstr(name, ".ffn_down")) {
        layer = km->i_ffn_down++;
        if (ft == FT_Q2_K)
            t = FERRY_DT_Q3_K;
        else if (ft == FT_Q2_K_S) {
            if (layer < n / 8) t = FERRY_DT_Q4_K;
        } else if (ft == FT_IQ3_XXS && !km->has_imatrix)
            t = layer < n / 8 ? FERRY_DT_Q4_K : FERRY_DT_Q3_K;
        else if (ft == FT_Q3_K_M)
            t = layer < n / 16 ? FERRY_DT_Q5_K : FERRY_DT_Q4_K;
        else if (ft == FT_IQ3_M && layer < n / 8)
            t = FERRY_DT_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = FERRY_DT_Q5_K;
        else if (ft == FT_Q4_K_M && use_more_bits(layer, n))
            t = FERRY_DT_Q6_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && layer < n / 8 && !km->has_imatrix)
            t = FERRY_DT_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(layer, n))
            t = FERRY_DT_Q6_K;
        else if (ft == FT_Q4_K_S && layer < n / 8)
            t = FERRY_DT_Q5_K;
        else if ((ft == FT_Q4_0 || ft == FT_Q5_0) && km->has_imatrix && layer < n / 8)
            t = ft == FT_Q4_0 ? FERRY_DT_Q4_1 : FERRY_DT_Q5_1; /* its guard for early ffn_down */
    } else if (in_block && strstr(name, ".attn_output.")) {
        if (ft == FT_Q2_K)
            t = FERRY_DT_Q3_K;
        else if (ft == FT_IQ3_XXS)
            t = FERRY_DT_IQ3_S;
        else if (ft == FT_Q3_K_M || ft == FT_IQ3_M)
            t = FERRY_DT_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = FERRY_DT_Q5_K;
    } else if (in_block && (strstr(name, ".attn_k.") || strstr(name, ".attn_q."))) {
        if (ft == FT_IQ3_XS)
            t = FERRY_DT_IQ3_XXS;
        else if (ft == FT_IQ3_XXS)
            t = FERRY_DT_IQ2_S;
    } else if (in_block && (strstr(name, ".ffn_gate.") || strstr(name, ".ffn_up."))) {
        layer = strstr(name, ".ffn_gate.") ? km->i_ffn_gate++ : km->i_ffn_up++;
        if (ft == FT_IQ3_XS && layer >= n / 8 && layer < 7 * n / 8) t = FERRY_DT_IQ3_XXS;
    }
    return kquant_fallback(t, cols);
}

/* the types llama-quantize makes only with an importance matrix (tensor_requires_imatrix),
 * Q2_K too in a q2_k_s file; not asked of token_embd and output */
static int needs_imatrix(enum ferry_dtype t, uint32_t ft)
{
    return t == FERRY_DT_IQ3_XXS || t == FERRY_DT_IQ2_XXS || t == FERRY_DT_IQ2_XS ||
           t == FERRY_DT_IQ2_S || t == FERRY_DT_IQ1_S || t == FERRY_DT_IQ1_M ||
           (t == FERRY_DT_Q2_K && ft == FT_Q2_K_S);
}

/* the types whose ggml quantizers stop the program without importance weights, whatever the
 * tensor (llama-quantize aborts on a token_embd given one of them) */
static int aborts_without_imatrix(enum ferry_dtype t)
{
    return t == FERRY_DT_IQ2_XXS || t == FERRY_DT_IQ2_XS || t == FERRY_DT_IQ1_S;
}

/* llama-quantize's fallbacks for rows that are not whole blocks of the chosen type (a 256-block
 * type to a 32-block one), then F16 where even those do not fit; also what --pure and the
 * per-tensor overrides keep of its rules */
static enum ferry_dtype kquant_fallback(enum ferry_dtype t, uint64_t cols)
{
    uint32_t blk = ferry_dtype_lookup(t)->blck;
    if (cols % blk == 0) return t;
    switch (t) { /* as llama.cpp's tensor_type_fallback */
    case FERRY_DT_IQ1_S:
    case FERRY_DT_IQ1_M:
    case FERRY_DT_IQ2_XXS:
    case FERRY_DT_IQ2_XS:
    case FERRY_DT_IQ2_S:
    case FERRY_DT_IQ3_XXS:
    case FERRY_DT_IQ3_S:
    case FERRY_DT_IQ4_XS: t = FERRY_DT_IQ4_NL; break;
    case FERRY_DT_Q2_K:
    case FERRY_DT_Q3_K:
    case FERRY_DT_TQ1_0:
    case FERRY_DT_TQ2_0: t = FERRY_DT_Q4_0; break;
    case FERRY_DT_Q4_K: t = FERRY_DT_Q5_0; break;
    case FERRY_DT_Q5_K: t = FERRY_DT_Q5_1; break;
    case FERRY_DT_Q6_K: t = FERRY_DT_Q8_0; break;
    default:
        if (blk > 32) return FERRY_DT_INVALID; /* llama-quantize stops there */
        break;                                 /* a 32-block type: F16 below */
    }
    return cols % ferry_dtype_lookup(t)->blck ? FERRY_DT_F16 : t;
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

static int kv_u64(struct ferry_ckpt *ck, const char *key, uint64_t v)
{
    struct ferry_kv *k = kv(ck, key, FERRY_V_U64);
    if (k) k->val.v.u = v;
    return k ? 0 : -1;
}

static int kv_f32(struct ferry_ckpt *ck, const char *key, float v)
{
    struct ferry_kv *k = kv(ck, key, FERRY_V_F32);
    if (k) k->val.v.f = v;
    return k ? 0 : -1;
}

/* ferry.source.digest: the manifest root of the source. Taken from a manifest the source
 * carries (OMS "files" serialization); otherwise the root of OMS's "shards" serialization
 * (FERRY_SOURCE_SHARD_SIZE), hashed on all cores by another thread while the conversion runs
 * and patched into the 64-character placeholder before the output is committed. The method
 * and shard size are recorded beside it (ferry.source.digest.method, .shard_size), so
 * model_signing or any OMS implementation can recompute it. */
struct digest_job {
    const char *src;
    char hex[65];
    int shards;       /* 1: the shards root is being computed */
    unsigned threads; /* its threads, as the conversion's (0: all cores) */
    int rc;
    pthread_t tid;
    int running;
    uint64_t value_offset;
    struct job *conv;
};

static void *digest_thread(void *arg)
{
    struct digest_job *d = arg;
    struct ferry_error e;
    uint8_t root[32];
    ferry_error_clear(&e);
    d->rc = ferry_source_digest_shards(d->src, d->threads, FERRY_SOURCE_SHARD_SIZE, root, &e);
    if (!d->rc) ferry_hex(root, 32, d->hex);
    return NULL;
}

/* 1 when the digest is known now or will be (placeholder needed), 0 when it is unavailable
 * (e.g. a Hugging Face cache snapshot made of symlinks). */
static int digest_start(struct digest_job *d, const char *src, unsigned threads)
{
    memset(d, 0, sizeof(*d));
    d->src = src;
    d->threads = threads;
    uint8_t root[32];
    char inside[3800]; /* an archive's digest is the manifest of the model inside it */
    if (ferry_path_kind(src) == 0 && ferry_archive_name(src)) {
        ferry_archive_root(src, inside, sizeof(inside));
        if (ferry_source_digest_recorded(inside, root)) {
            ferry_hex(root, 32, d->hex);
            return 1;
        }
    }
    if (ferry_source_digest_recorded(src, root)) {
        ferry_hex(root, 32, d->hex);
        return 1;
    }
    if (!ferry_source_digest_possible(src)) return 0;
    memset(d->hex, '0', 64);
    d->hex[64] = 0;
    d->shards = 1;
    d->running = pthread_create(&d->tid, NULL, digest_thread, d) == 0;
    return d->running;
}

static int digest_finish(void *ctx, struct ferry_out *o, struct ferry_error *err)
{
    struct digest_job *d = ((struct llama_stream *)ctx)->user;
    if (!d || !d->running) return 0;
    pthread_join(d->tid, NULL);
    d->running = 0;
    if (!o) return 0; /* the shard holding the key was kept from an earlier run */
    if (d->rc)
        return ferry_error_set(err, FERRY_EIO, d->src, FERRY_NO_OFFSET, NULL,
                               "cannot hash the source for ferry.source.digest");
    return ferry_out_patch(o, d->value_offset, d->hex, 64, err);
}

/* llama-quantize's record of the importance matrix: the file as named, the first dataset and
 * the strings cut at 127 bytes as its override values are, the entry and chunk counts */
static int imatrix_metadata(struct ferry_ckpt *d, const struct ferry_convert_opts *o,
                            struct ferry_error *err)
{
    const struct ferry_imatrix *im = o->imatrix;
    char file[128], set[128];
    snprintf(file, sizeof(file), "%s", o->imatrix_path ? o->imatrix_path : "");
    snprintf(set, sizeof(set), "%s", im->dataset ? im->dataset : "");
    int bad = kv_str(d, "quantize.imatrix.file", file) ||
              (im->dataset && kv_str(d, "quantize.imatrix.dataset", set)) ||
              kv_u32(d, "quantize.imatrix.entries_count", im->n) ||
              (im->chunk_count > 0 &&
               kv_u32(d, "quantize.imatrix.chunks_count", (uint64_t)im->chunk_count));
    return bad ? ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom") : 0;
}

/* The importance weights of a weight being quantized: its entry, which must be as wide as its
 * rows (token_embd.weight excepted: llama-quantize quantizes it without, as an imatrix often
 * holds none that fits) */
static int imatrix_row(const struct ferry_convert_opts *o, const struct ferry_plan_tensor *p,
                       const char *src, const float **w, struct ferry_error *err)
{
    const struct ferry_imatrix_entry *e = ferry_imatrix_find(o->imatrix, p->name);
    if (!e) return 0;
    if (e->n == p->cols) {
        *w = e->values;
        return 0;
    }
    if (!strcmp(p->name, "token_embd.weight")) return 0;
    return ferry_error_set(err, FERRY_EMALFORMED, o->imatrix_path, FERRY_NO_OFFSET, p->name,
                           "the importance matrix has %llu values for this weight, whose rows "
                           "in %s have %llu: it was computed for another model",
                           (unsigned long long)e->n, src, (unsigned long long)p->cols);
}

static int metadata(struct ferry_ckpt *d, const struct ferry_llama *m, struct digest_job *dj,
                    const char *name, uint32_t file_type, const char *type, struct ferry_error *err)
{
    const struct ferry_llama_hparams *hp = &m->hp;
    char opts[64];
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
    if (!bad && m->layout == FERRY_LAYOUT_GGUF && !m->vocab_borrowed) {
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
    snprintf(opts, sizeof(opts), "--type %s", type);
    bad = bad || kv_str(d, "ferry.version", FERRY_VERSION) ||
          kv_str(d, "ferry.source.format", m->source_format);
    if (!bad && dj->hex[0]) {
        dj->value_offset = d->nkvs; /* the index; made a file offset once all kvs exist */
        bad = kv_str(d, "ferry.source.digest", dj->hex) ||
              kv_str(d, "ferry.source.digest.method", dj->shards ? "shards" : "files") ||
              (dj->shards && kv_u64(d, "ferry.source.digest.shard_size", FERRY_SOURCE_SHARD_SIZE));
    }
    bad = bad || kv_str(d, "ferry.convert.options", opts);
    if (!bad && m->license_path[0]) { /* name the license the weights came with */
        struct ferry_map lm;
        struct ferry_error e;
        ferry_error_clear(&e);
        if (ferry_map_open(&lm, m->license_path, &e) == 0) {
            char line[256] = "", hex[65];
            size_t i = 0, k = 0;
            while (i < lm.size && (lm.data[i] == '\n' || lm.data[i] == ' ')) i++;
            while (i < lm.size && lm.data[i] != '\n' && k + 1 < sizeof(line))
                line[k++] = (char)lm.data[i++];
            line[k] = 0;
            uint8_t h[32];
            unsigned hl;
            EVP_Digest(lm.data ? lm.data : (const uint8_t *)"", (size_t)lm.size, h, &hl,
                       EVP_sha256(), NULL);
            ferry_hex(h, 32, hex);
            bad = (k && kv_str(d, "general.license.name", line)) ||
                  kv_str(d, "ferry.license.sha256", hex);
            ferry_map_close(&lm);
        }
    }
    return bad ? ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory")
               : 0;
}

/* LICENSE, USE_POLICY.md and NOTICE of the source go beside the output file (kept when present
 * there already, unless --force). */
static int copy_license_files(const char *license_path, const char *dst, int force,
                              struct ferry_error *err)
{
    char sdir[4200], ddir[4200];
    snprintf(sdir, sizeof(sdir), "%s", license_path);
    snprintf(ddir, sizeof(ddir), "%s", dst);
    char *a = strrchr(sdir, '/'), *b = strrchr(ddir, '/');
    if (a)
        *a = 0;
    else
        snprintf(sdir, sizeof(sdir), ".");
    if (b)
        *b = 0;
    else
        snprintf(ddir, sizeof(ddir), ".");
    if (!strcmp(sdir, ddir)) return 0;
    static const char *names[] = {"LICENSE", "USE_POLICY.md", "NOTICE"};
    for (size_t i = 0; i < 3; i++) {
        char from[8500], to[8500];
        snprintf(from, sizeof(from), "%s/%s", sdir, names[i]);
        snprintf(to, sizeof(to), "%s/%s", ddir, names[i]);
        if (access(from, R_OK) != 0 || (!force && access(to, F_OK) == 0)) continue;
        struct ferry_map mm;
        int rc = ferry_map_open(&mm, from, err);
        if (rc) return rc;
        struct ferry_out out;
        if (!(rc = ferry_out_open(&out, to, force, err))) {
            if (!(rc = ferry_out_write(&out, mm.data, mm.size, err)))
                rc = ferry_out_commit(&out, err);
            if (rc) ferry_out_abort(&out);
        }
        ferry_map_close(&mm);
        if (rc) return rc;
    }
    return 0;
}

static int convert_model(const char *src, const char *dst, const struct ferry_convert_opts *o,
                         struct ferry_error *err);

/* The vocabulary a GGUF gets: borrowed with --vocab-from, none with --no-vocab, else the
 * source's, which must exist (llama.cpp refuses a GGUF without tokenizer.ggml.model). */
static int choose_vocab(struct ferry_llama *m, const char *src, const struct ferry_convert_opts *o,
                        struct ferry_error *err)
{
    if (o->vocab_from) {
        struct ferry_vocab v;
        int rc = ferry_vocab_load(o->vocab_from, m->hp.n_vocab, &v, err);
        if (rc) return rc;
        if (v.n > m->hp.n_vocab) {
            uint64_t n = v.n;
            ferry_vocab_free(&v);
            return ferry_error_set(err, FERRY_EUSAGE, o->vocab_from, FERRY_NO_OFFSET, NULL,
                                   "--vocab-from has %llu tokens, the model %u: not its vocabulary",
                                   (unsigned long long)n, m->hp.n_vocab);
        }
        if (m->has_vocab) ferry_vocab_free(&m->vocab);
        m->vocab = v;
        m->has_vocab = 1;
        m->vocab_borrowed = 1;
        return 0;
    }
    if (o->vocab == FERRY_VOCAB_NONE) {
        if (m->has_vocab) ferry_vocab_free(&m->vocab);
        m->has_vocab = 0;
        m->vocab_borrowed = 1; /* nor the GGUF source's tokenizer keys */
        return 0;
    }
    if (m->has_vocab) return 0;
    return ferry_error_set(
        err, FERRY_EMALFORMED, src, FERRY_NO_OFFSET, NULL,
        "no tokenizer to put in the GGUF (%s): give --vocab-from PATH (a model, GGUF or "
        "tokenizer file), or --no-vocab for weights only (llama.cpp will not load that)",
        m->layout == FERRY_LAYOUT_GGUF ? "the GGUF has no tokenizer.ggml.* keys"
        : m->layout == FERRY_LAYOUT_LLAMA2C
            ? "a llama2.c .bin has none; its tokenizer.bin does"
            : "no tokenizer.model or tokenizer.json beside the weights");
}

/* A compressed archive cannot be read at random, and a conversion reads tensors in the
 * output's order: its model is unpacked first into a staging folder beside the output (the
 * model's uncompressed size, on the output's file system), converted from there and removed.
 * The archive is read once: its listing is not asked for, as that would decompress it all. */
static int convert_staged(const char *archive, const char *inside, const char *dst,
                          const struct ferry_convert_opts *o, struct ferry_error *err)
{
    char stage[4200], parent[4096], model[4500];
    snprintf(parent, sizeof(parent), "%s", dst);
    size_t l = strlen(parent);
    while (l > 1 && parent[l - 1] == '/') parent[--l] = 0;
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(parent, sizeof(parent), ".");
    snprintf(stage, sizeof(stage), "%s/.ferry-stage-%d", parent[0] ? parent : "/", (int)getpid());
    if (mkdir(stage, 0700) != 0)
        return ferry_error_set(err, FERRY_ECANTCREAT, stage, FERRY_NO_OFFSET, NULL,
                               "cannot make the staging folder: %s", strerror(errno));
    uint64_t bytes = 0;
    int rc = ferry_archive_extract(archive, inside, stage, o->cancel, &bytes, err);
    char name[256] = "model"; /* named as the folder inside the archive is */
    snprintf(model, sizeof(model), "%s", stage);
    if (!rc && *inside) {
        const char *last = strrchr(inside, '/');
        snprintf(name, sizeof(name), "%s", last ? last + 1 : inside);
        size_t nl = strlen(name);
        while (nl && name[nl - 1] == '/') name[--nl] = 0;
    } else if (!rc) {
        /* the model is the one folder everything lies below, as in ferry_archive_root */
        DIR *d = opendir(stage);
        struct dirent *e;
        int entries = 0, folder = 0;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                struct stat est;
                entries++;
                folder = fstatat(dirfd(d), e->d_name, &est, AT_SYMLINK_NOFOLLOW) == 0 &&
                         S_ISDIR(est.st_mode);
                snprintf(name, sizeof(name), "%s", e->d_name);
            }
        if (d) closedir(d);
        if (entries == 1 && folder)
            snprintf(model, sizeof(model), "%s/%s", stage, name);
        else
            snprintf(name, sizeof(name), "model");
    }
    if (!rc && !bytes)
        rc = ferry_error_set(err, FERRY_ENOINPUT, archive, FERRY_NO_OFFSET, *inside ? inside : NULL,
                             "the archive holds no files%s", *inside ? " below this folder" : "");
    struct ferry_convert_opts so = *o;
    if (!so.name) so.name = name;
    if (!rc) rc = convert_model(model, dst, &so, err);
    ferry_remove_tree(stage);
    return rc;
}

int ferry_convert_model(const char *src, const char *dst, const struct ferry_convert_opts *o,
                        struct ferry_error *err)
{
    char archive[4096];
    const char *inside = NULL;
    struct stat st;
    if (stat(src, &st) == 0 && S_ISREG(st.st_mode) && ferry_archive_name(src) &&
        strlen(src) < sizeof(archive)) {
        snprintf(archive, sizeof(archive), "%s", src);
        inside = "";
    } else if (!ferry_archive_split(src, archive, sizeof(archive), &inside)) {
        inside = NULL;
    }
    int compressed = inside ? ferry_archive_compressed(archive, err) : 0;
    if (compressed < 0) return -compressed;
    int rc =
        compressed ? convert_staged(archive, inside, dst, o, err) : convert_model(src, dst, o, err);
    /* a failure in a tensor's rows (an interruption, a bad block) names the output written */
    if (rc && err && !err->file[0]) snprintf(err->file, sizeof(err->file), "%s", dst);
    return rc;
}

static int convert_model(const char *src, const char *dst, const struct ferry_convert_opts *o,
                         struct ferry_error *err)
{
    if (o->to != FERRY_FMT_GGUF) {
        struct ferry_llama m;
        int rc = ferry_llama_open(&m, src, err);
        if (!rc) rc = llama_export(&m, src, dst, o, err);
        ferry_llama_close(&m);
        return rc;
    }
    const char *type = o->type ? o->type : "f16";
    size_t ti = 0;
    int keep = !strcasecmp(type, "keep");
    while (!keep && ti < sizeof(types) / sizeof(types[0]) && strcasecmp(types[ti].name, type)) ti++;
    if (!keep && ti == sizeof(types) / sizeof(types[0]))
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                               "--type %s is not available (" TYPE_NAMES ")", type);
    struct ferry_llama m;
    int rc = ferry_llama_open(&m, src, err);
    if (!rc) rc = choose_vocab(&m, src, o, err);
    if (rc) {
        ferry_llama_close(&m);
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
            if (types[k].dt == want) {
                file_type = types[k].file_type; /* the plain (_S) file type of that block type */
                break;
            }
    }
    struct digest_job dj = {0};
    int have_digest = !o->dry_run && digest_start(&dj, src, o->threads);
    if (!have_digest) dj.hex[0] = 0;
    rc = metadata(&d, &m, &dj, o->name ? o->name : m.name, file_type, type, err);
    if (!rc && dj.hex[0]) dj.value_offset = ferry_gguf_kv_value_offset(&d, dj.value_offset);
    if (m.layout == FERRY_LAYOUT_GGUF && !m.vocab_borrowed)
        for (uint64_t i = 0; i < d.nkvs; i++)
            if (!strncmp(d.kvs[i].key, "tokenizer.", 10)) n_src_kvs = i + 1;
    struct kq_model km = {.n_layer = m.hp.n_layer,
                          .n_gqa = m.hp.n_head_kv ? m.hp.n_head / m.hp.n_head_kv : 1,
                          .is_70b = m.hp.n_layer == 80 && m.hp.n_head != m.hp.n_head_kv};
    for (uint64_t i = 0; i < m.nt; i++) km.has_output |= !strcmp(m.t[i].name, "output.weight");
    km.has_imatrix = o->imatrix && o->imatrix->n;
    if (!rc && km.has_imatrix) rc = imatrix_metadata(&d, o, err);
    if (o->vocab == FERRY_VOCAB_ONLY) m.nt = 0; /* a vocabulary GGUF: metadata, no tensors */
    const float **weights = km.has_imatrix ? calloc(m.nt + 1, sizeof(*weights)) : NULL;
    if (!rc && km.has_imatrix && !weights)
        rc = ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "oom");
    for (uint64_t i = 0; !rc && i < m.nt; i++) {
        struct ferry_plan_tensor *p = &m.t[i];
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
        /* a weight a block --type quantizes (q8_0 too, which has no per-tensor rules) */
        int quantizable =
            !keep && ferry_dtype_lookup(want)->blck > 1 && p->ndim == 2 && !norm && !p->generated;
        int is_output = !strcmp(p->name, "output.weight");
        if (quantizable && is_output && o->leave_output) /* llama-quantize --leave-output-tensor */
            out = ferry_can_write(p->parts[0].t->dtype) ? p->parts[0].t->dtype : FERRY_DT_F32;
        else if (quantizable && is_output && o->output_type)
            out = o->output_type;
        else if (quantizable && !strcmp(p->name, "token_embd.weight") && o->token_embd_type)
            out = o->token_embd_type;
        else if (quantizable) {
            /* --tensor-type PATTERN=T (the first pattern found in the name), --pure (every
             * weight in the one type), else llama-quantize's per-tensor choices; then its
             * fallbacks for rows that fit no block of the type */
            enum ferry_dtype manual = FERRY_DT_INVALID;
            for (size_t k = 0; k < o->ntensor_types && manual == FERRY_DT_INVALID; k++)
                if (tensor_type_matches(o->tensor_types[k].pattern, p->name))
                    manual = o->tensor_types[k].type;
            out = manual != FERRY_DT_INVALID  ? kquant_fallback(manual, p->cols)
                  : o->pure || !types[ti].mix ? kquant_fallback(want, p->cols)
                                              : kquant_type(p->name, want, file_type, p->cols, &km);
            if (out == FERRY_DT_INVALID) {
                rc = ferry_error_set(err, FERRY_EUSAGE, src, FERRY_NO_OFFSET, p->name,
                                     "rows of %llu elements fit no block size of %s "
                                     "(llama-quantize refuses this tensor too)",
                                     (unsigned long long)p->cols, type);
                break;
            }
            enum ferry_dtype from = p->parts[0].t->dtype;
            if (ferry_dtype_lookup(from)->blck > 1 && out != from && !o->allow_requantize) {
                rc = ferry_error_set(err, FERRY_EUSAGE, src, FERRY_NO_OFFSET, p->name,
                                     "is already quantized (%s): quantizing it again to %s "
                                     "loses precision twice; --allow-requantize does it anyway "
                                     "(llama-quantize refuses likewise), or convert from the "
                                     "F16/BF16/F32 original",
                                     ferry_dtype_name(from), ferry_dtype_name(out));
                break;
            }
        }
        /* the importance weights of every weight quantized, whatever chose its type */
        if (quantizable && out != p->parts[0].t->dtype) {
            if (weights && (rc = imatrix_row(o, p, src, &weights[i], err))) break;
            int embd = is_output || !strcmp(p->name, "token_embd.weight");
            if (!(weights && weights[i]) &&
                ((needs_imatrix(out, file_type) && !embd) || aborts_without_imatrix(out))) {
                rc =
                    ferry_error_set(err, FERRY_EUSAGE, src, FERRY_NO_OFFSET, p->name,
                                    "%s needs an importance matrix (--imatrix with an entry for "
                                    "this weight): without one its values are garbage, and "
                                    "llama-quantize %s",
                                    ferry_dtype_name(out), embd ? "stops on it" : "refuses it too");
                break;
            }
        }
        if (p->cols % ferry_dtype_lookup(out)->blck) out = FERRY_DT_F16; /* as convert_hf_to_gguf */
        t->dtype = out;
        t->ndim = p->ndim;
        memcpy(t->shape, p->shape, sizeof(uint64_t) * p->ndim);
        t->nelem = p->rows * p->cols;
        ferry_dtype_nbytes(out, t->nelem, &t->nbytes);
    }
    if (!rc && o->dry_run) { /* the plan, and nothing read, hashed or written */
        for (uint64_t i = 0; o->planned && i < d.ntensors; i++)
            o->planned(o->planned_ctx, d.tensors[i].name, d.tensors[i].dtype, d.tensors[i].ndim,
                       d.tensors[i].shape, d.tensors[i].nbytes);
        ferry_ckpt_free(&d);
        ferry_llama_close(&m);
        return 0;
    }
    const struct ferry_plan_tensor **plans = calloc(m.nt + 1, sizeof(*plans));
    for (uint64_t i = 0; plans && i < m.nt; i++) plans[i] = &m.t[i];
    if (o->progress_total) {
        uint64_t total = 0;
        for (uint64_t i = 0; i < d.ntensors; i++) total += d.tensors[i].nbytes;
        o->progress_total(o->progress_ctx, total);
    }
    struct llama_stream j = {.m = &m,
                             .plans = plans,
                             .desc = &d,
                             .threads = o->threads ? o->threads : ferry_cpu_count(),
                             .progress = o->progress,
                             .progress_ctx = o->progress_ctx,
                             .user = &dj,
                             .cancel = o->cancel,
                             .weights = weights};
    if (j.threads > 64) j.threads = 64;
    if (!rc && !plans)
        rc = ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "oom");
    if (!rc && (o->split_max || o->resume))
        rc = ferry_gguf_write_split(&d, dst, o->split_max ? o->split_max : UINT64_MAX, o->force,
                                    o->resume, llama_stream_source, &j, digest_finish, &j, NULL,
                                    err);
    else if (!rc)
        rc =
            ferry_gguf_write_hooked(&d, dst, o->force, llama_stream_source, &j, digest_finish, err);
    free(plans);
    free(weights);
    if (dj.running) pthread_join(dj.tid, NULL);
    if (!rc && m.license_path[0]) rc = copy_license_files(m.license_path, dst, o->force, err);
    /* tokenizer values copied from a GGUF source belong to the source */
    for (uint64_t i = 0; i < n_src_kvs; i++)
        if (!strncmp(d.kvs[i].key, "tokenizer.", 10))
            memset(&d.kvs[i].val, 0, sizeof(d.kvs[i].val));
    ferry_ckpt_free(&d);
    ferry_llama_close(&m);
    return rc;
}
