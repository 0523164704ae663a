/* A small deterministic Llama checkpoint in Hugging Face layout, made from a seed: the model
 * `ferry demo` and tests run the whole pipeline on without downloading anything. Weights are
 * Gaussian from xorshift64* (small projections keep it well-conditioned under quantization);
 * the tokenizer is a 512-piece sentencepiece model (specials, 256 byte pieces, letters and
 * common English pieces). */
#define _GNU_SOURCE
#include "ferry/convert.h"
#include "ferry/file.h"
#include "ferry/safetensors.h"
#include "ferry/vocab.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DIM      256
#define LAYERS   2
#define HEADS    8
#define KV_HEADS 4
#define FF       512
#define VOCAB    512
#define CTX      256

struct rng {
    uint64_t s;
};

static double uniform(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (double)((r->s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static float gauss(struct rng *r)
{
    double u = uniform(r), v = uniform(r);
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v));
}

static int write_text(const char *path, const char *text, int force, struct ferry_error *err)
{
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, force, err);
    if (!rc && !(rc = ferry_out_write(&o, text, strlen(text), err)))
        rc = ferry_out_commit(&o, err);
    else if (!rc || o.fp)
        ferry_out_abort(&o);
    return rc;
}

/* 1 when piece s is among the first n: a vocabulary names each piece once (llama.cpp stops on a
 * GGUF whose tokens repeat, and sentencepiece's trainer never writes one) */
static int known(const struct ferry_str *t, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (t[i].s && !strcmp(t[i].s, s)) return 1;
    return 0;
}

static int vocab(const char *path, int force, struct ferry_error *err)
{
    static const char *words[] = {
        "the",    "a",    "was",   "and",  "to",    "of",    "in",     "it",   "he",    "she",
        "day",    "dog",  "cat",   "sun",  "ferry", "model", "once",   "upon", "time",  "there",
        "little", "big",  "happy", "play", "park",  "run",   "friend", "tree", "water", "boat",
        "river",  "home", "said",  "saw",  "went",  "is",    "on"};
    struct ferry_str *t = calloc(VOCAB, sizeof(*t));
    float *scores = calloc(VOCAB, sizeof(float));
    int32_t *types = calloc(VOCAB, sizeof(int32_t));
    int rc = 0, n = 0;
    char buf[64];
#define ADD(str, type)                                                                             \
    do {                                                                                           \
        if (n < VOCAB && !known(t, n, str)) {                                                      \
            t[n].s = strdup(str);                                                                  \
            t[n].len = strlen(str);                                                                \
            scores[n] = n < 259 ? 0.0f : -(float)n;                                                \
            types[n] = (type);                                                                     \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)
    if (!t || !scores || !types) goto oom;
    ADD("<unk>", FERRY_TOK_UNKNOWN);
    ADD("<s>", FERRY_TOK_CONTROL);
    ADD("</s>", FERRY_TOK_CONTROL);
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof(buf), "<0x%02X>", b);
        ADD(buf, FERRY_TOK_BYTE);
    }
    ADD("\xe2\x96\x81", FERRY_TOK_NORMAL);
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        snprintf(buf, sizeof(buf), "\xe2\x96\x81%s", words[w]);
        ADD(buf, FERRY_TOK_NORMAL);
    }
    for (char c = 'a'; c <= 'z'; c++) {
        buf[0] = c, buf[1] = 0;
        ADD(buf, FERRY_TOK_NORMAL);
        snprintf(buf, sizeof(buf), "\xe2\x96\x81%c", c);
        ADD(buf, FERRY_TOK_NORMAL);
    }
    for (char c = 'A'; c <= 'Z'; c++) {
        buf[0] = c, buf[1] = 0;
        ADD(buf, FERRY_TOK_NORMAL);
    }
    static const char punct[] = ".,!?'\"-:;0123456789";
    for (size_t i = 0; punct[i]; i++) {
        buf[0] = punct[i], buf[1] = 0;
        ADD(buf, FERRY_TOK_NORMAL);
    }
    for (char a = 'a'; a <= 'z' && n < VOCAB; a++) /* common letter pairs fill the rest */
        for (const char *b = "aeiorstnlh"; *b && n < VOCAB; b++) {
            buf[0] = a, buf[1] = *b, buf[2] = 0;
            ADD(buf, FERRY_TOK_NORMAL);
        }
    for (int i = 0; i < n; i++)
        if (!t[i].s) goto oom;
    while (n < VOCAB) {
        snprintf(buf, sizeof(buf), "[PAD%d]", n);
        ADD(buf, FERRY_TOK_UNUSED);
    }
#undef ADD
    rc = ferry_vocab_write_spm(t, scores, types, VOCAB, path, force, err);
    goto out;
oom:
    rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
out:
    for (int i = 0; t && i < VOCAB; i++) free(t[i].s);
    free(t);
    free(scores);
    free(types);
    return rc;
}

static struct ferry_tensor *tensor(struct ferry_ckpt *d, const char *name, uint64_t rows,
                                   uint64_t cols, struct rng *r, float std, float mean)
{
    struct ferry_tensor *t = ferry_ckpt_add_tensor(d, name, strlen(name));
    if (!t) return NULL;
    float *v = malloc(rows * cols * sizeof(float));
    if (!v) return NULL;
    for (uint64_t i = 0; i < rows * cols; i++) v[i] = mean + std * gauss(r);
    t->dtype = FERRY_DT_F32;
    t->ndim = rows == 1 ? 1 : 2;
    t->shape[0] = rows == 1 ? cols : rows;
    t->shape[1] = cols;
    t->nelem = rows * cols;
    t->nbytes = t->nelem * 4;
    t->data = (const uint8_t *)v;
    return t;
}

int ferry_synth_llama(const char *dir, uint64_t seed, int force, struct ferry_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ferry_error_set(err, FERRY_ECANTCREAT, dir, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    struct rng r = {seed ? seed : 1};
    struct ferry_ckpt d;
    ferry_ckpt_init(&d);
    int rc = 0;
    char name[96], path[4200];
    const uint64_t hd = DIM / HEADS;
    if (!tensor(&d, "model.embed_tokens.weight", VOCAB, DIM, &r, 0.1f, 0)) rc = -1;
    for (int l = 0; !rc && l < LAYERS; l++) {
        struct {
            const char *n;
            uint64_t rows, cols;
            float std, mean;
        } ws[] = {{"input_layernorm.weight", 1, DIM, 0.05f, 1},
                  {"self_attn.q_proj.weight", HEADS * hd, DIM, 0.02f, 0},
                  {"self_attn.k_proj.weight", KV_HEADS * hd, DIM, 0.02f, 0},
                  {"self_attn.v_proj.weight", KV_HEADS * hd, DIM, 0.02f, 0},
                  {"self_attn.o_proj.weight", DIM, HEADS * hd, 0.02f, 0},
                  {"post_attention_layernorm.weight", 1, DIM, 0.05f, 1},
                  {"mlp.gate_proj.weight", FF, DIM, 0.02f, 0},
                  {"mlp.up_proj.weight", FF, DIM, 0.02f, 0},
                  {"mlp.down_proj.weight", DIM, FF, 0.02f, 0}};
        for (size_t k = 0; !rc && k < sizeof(ws) / sizeof(ws[0]); k++) {
            snprintf(name, sizeof(name), "model.layers.%d.%s", l, ws[k].n);
            if (!tensor(&d, name, ws[k].rows, ws[k].cols, &r, ws[k].std, ws[k].mean)) rc = -1;
        }
    }
    if (!rc && (!tensor(&d, "model.norm.weight", 1, DIM, &r, 0.05f, 1) ||
                !tensor(&d, "lm_head.weight", VOCAB, DIM, &r, 0.1f, 0)))
        rc = -1;
    if (rc) rc = ferry_error_set(err, FERRY_EINTERNAL, dir, FERRY_NO_OFFSET, NULL, "out of memory");
    struct ferry_kv *kv = rc ? NULL : ferry_ckpt_add_kv(&d, "format", 6);
    if (kv) ferry_ckpt_kv_set_string(kv, "pt", 2);
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    if (!rc) rc = ferry_safetensors_write(&d, path, force, NULL, NULL, err);
    for (uint64_t i = 0; i < d.ntensors; i++) free((void *)d.tensors[i].data);
    ferry_ckpt_free(&d);
    char cfg[1024];
    snprintf(
        cfg, sizeof(cfg),
        "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
        "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
        "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"vocab_size\": %d,\n"
        "  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": "
        "10000.0,\n"
        "  \"tie_word_embeddings\": false,\n  \"bos_token_id\": 1,\n  \"eos_token_id\": 2,\n"
        "  \"torch_dtype\": \"float32\"\n}\n",
        DIM, FF, LAYERS, HEADS, KV_HEADS, VOCAB, CTX);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (!rc) rc = write_text(path, cfg, force, err);
    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    if (!rc) rc = vocab(path, force, err);
    snprintf(path, sizeof(path), "%s/LICENSE", dir);
    if (!rc)
        rc =
            write_text(path,
                       "Demo Model License\n\nThis generated model carries no rights of anyone; it "
                       "exists to show ferry's pipeline.\nBy using it you accept that it generates "
                       "nonsense.\n",
                       force, err);
    return rc;
}
