/* GGUF tokenizer.ggml.* keys of a vocabulary, with the value types llama.cpp's converter uses. */
#include "ferry/vocab.h"

#include <stdlib.h>
#include <string.h>

static struct ferry_kv *add(struct ferry_ckpt *ck, const char *key, enum ferry_vtype t)
{
    struct ferry_kv *kv = ferry_ckpt_add_kv(ck, key, strlen(key));
    if (kv) kv->val.type = t;
    return kv;
}

static int add_str(struct ferry_ckpt *ck, const char *key, const char *s)
{
    struct ferry_kv *kv = add(ck, key, FERRY_V_STRING);
    return kv ? ferry_ckpt_kv_set_string(kv, s, strlen(s)) : -1;
}

static int add_strs(struct ferry_ckpt *ck, const char *key, const struct ferry_str *s, uint64_t n)
{
    struct ferry_kv *kv = add(ck, key, FERRY_V_ARRAY);
    if (!kv) return -1;
    kv->val.elem_type = FERRY_V_STRING;
    struct ferry_str *a = calloc(n ? n : 1, sizeof(*a));
    if (!(kv->val.arr = a)) return -1;
    for (uint64_t i = 0; i < n; i++) {
        if (ferry_str_set(&a[i], s[i].s, (size_t)s[i].len)) return -1;
        kv->val.count = i + 1;
    }
    return 0;
}

static int add_array(struct ferry_ckpt *ck, const char *key, enum ferry_vtype et, const void *p,
                     uint64_t n)
{
    struct ferry_kv *kv = add(ck, key, FERRY_V_ARRAY);
    if (!kv) return -1;
    size_t bytes = (size_t)n * ferry_vtype_size(et);
    kv->val.elem_type = et;
    if (!(kv->val.arr = malloc(bytes ? bytes : 1))) return -1;
    memcpy(kv->val.arr, p, bytes);
    kv->val.count = n;
    return 0;
}

static int add_u32(struct ferry_ckpt *ck, const char *key, int64_t v)
{
    if (v < 0) return 0;
    struct ferry_kv *kv = add(ck, key, FERRY_V_U32);
    if (kv) kv->val.v.u = (uint64_t)v;
    return kv ? 0 : -1;
}

static int add_bool(struct ferry_ckpt *ck, const char *key, int b)
{
    struct ferry_kv *kv = add(ck, key, FERRY_V_BOOL);
    if (kv) kv->val.v.u = b != 0;
    return kv ? 0 : -1;
}

int ferry_vocab_to_kvs(const struct ferry_vocab *v, struct ferry_ckpt *ck, struct ferry_error *err)
{
    int bad = add_str(ck, "tokenizer.ggml.model", v->model) ||
              add_str(ck, "tokenizer.ggml.pre", v->pre) ||
              add_strs(ck, "tokenizer.ggml.tokens", v->tokens, v->n) ||
              (v->scores && add_array(ck, "tokenizer.ggml.scores", FERRY_V_F32, v->scores, v->n)) ||
              add_array(ck, "tokenizer.ggml.token_type", FERRY_V_I32, v->types, v->n) ||
              (v->merges && add_strs(ck, "tokenizer.ggml.merges", v->merges, v->nmerges)) ||
              add_u32(ck, "tokenizer.ggml.bos_token_id", v->bos) ||
              add_u32(ck, "tokenizer.ggml.eos_token_id", v->eos) ||
              add_u32(ck, "tokenizer.ggml.unknown_token_id", v->unk) ||
              add_u32(ck, "tokenizer.ggml.padding_token_id", v->pad) ||
              add_bool(ck, "tokenizer.ggml.add_bos_token", v->add_bos) ||
              add_bool(ck, "tokenizer.ggml.add_eos_token", v->add_eos);
    return bad ? ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory")
               : 0;
}

static const struct ferry_kv *arr(const struct ferry_ckpt *ck, const char *key, enum ferry_vtype et)
{
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, key);
    return kv && kv->val.type == FERRY_V_ARRAY && kv->val.elem_type == et ? kv : NULL;
}

static int64_t num(const struct ferry_ckpt *ck, const char *key, int64_t dflt)
{
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, key);
    int64_t v;
    return kv && !ferry_value_as_i64(&kv->val, &v) ? v : dflt;
}

int ferry_vocab_check(const struct ferry_vocab *v, const char *file, struct ferry_error *err)
{
    if (v->n == 0 || v->n > INT32_MAX)
        return ferry_error_set(
            err, FERRY_EMALFORMED, file, FERRY_NO_OFFSET, "tokenizer.ggml.tokens",
            "a vocabulary of %llu tokens (1 to 2^31-1 expected)", (unsigned long long)v->n);
    const struct {
        const char *key;
        int64_t id;
    } ids[] = {{"tokenizer.ggml.bos_token_id", v->bos},
               {"tokenizer.ggml.eos_token_id", v->eos},
               {"tokenizer.ggml.unknown_token_id", v->unk},
               {"tokenizer.ggml.padding_token_id", v->pad}};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        if (ids[i].id < -1 || ids[i].id >= (int64_t)v->n)
            return ferry_error_set(err, FERRY_EMALFORMED, file, FERRY_NO_OFFSET, ids[i].key,
                                   "token id %lld is outside the vocabulary of %llu tokens",
                                   (long long)ids[i].id, (unsigned long long)v->n);
    return 0;
}

int ferry_vocab_from_kvs(const struct ferry_ckpt *ck, struct ferry_vocab *v,
                         struct ferry_error *err)
{
    memset(v, 0, sizeof(*v));
    const struct ferry_kv *model = ferry_ckpt_find_kv(ck, "tokenizer.ggml.model");
    const struct ferry_kv *toks = arr(ck, "tokenizer.ggml.tokens", FERRY_V_STRING);
    const struct ferry_kv *scores = arr(ck, "tokenizer.ggml.scores", FERRY_V_F32);
    const struct ferry_kv *types = arr(ck, "tokenizer.ggml.token_type", FERRY_V_I32);
    const struct ferry_kv *merges = arr(ck, "tokenizer.ggml.merges", FERRY_V_STRING);
    if (!model || model->val.type != FERRY_V_STRING || !toks) return 1; /* no vocabulary */
    const char *mn = model->val.v.str.s;
    if (strcmp(mn, "llama") && strcmp(mn, "gpt2"))
        return ferry_error_set(err, FERRY_EMALFORMED, NULL, FERRY_NO_OFFSET, "tokenizer.ggml.model",
                               "tokenizer model '%s' is not supported (llama, gpt2)", mn);
    uint64_t n = toks->val.count;
    if ((scores && scores->val.count != n) || (types && types->val.count != n))
        return ferry_error_set(err, FERRY_EMALFORMED, NULL, FERRY_NO_OFFSET,
                               "tokenizer.ggml.scores", "token arrays of different lengths");
    v->model = !strcmp(mn, "llama") ? "llama" : "gpt2";
    v->pre = "default";
    v->n = n;
    v->tokens = calloc(n ? n : 1, sizeof(*v->tokens));
    v->types = calloc(n ? n : 1, sizeof(int32_t));
    if (scores) v->scores = malloc(n * sizeof(float));
    if (merges) v->merges = calloc(merges->val.count + 1, sizeof(*v->merges));
    if (!v->tokens || !v->types || (scores && !v->scores) || (merges && !v->merges)) goto oom;
    const struct ferry_str *ts = toks->val.arr;
    for (uint64_t i = 0; i < n; i++) {
        if (ferry_str_set(&v->tokens[i], ts[i].s, (size_t)ts[i].len)) goto oom;
        v->types[i] = types ? ((const int32_t *)types->val.arr)[i] : FERRY_TOK_NORMAL;
        if (scores) v->scores[i] = ((const float *)scores->val.arr)[i];
    }
    if (merges) {
        const struct ferry_str *ms = merges->val.arr;
        for (uint64_t i = 0; i < merges->val.count; i++) {
            if (ferry_str_set(&v->merges[i], ms[i].s, (size_t)ms[i].len)) goto oom;
            v->nmerges = i + 1;
        }
    }
    v->bos = num(ck, "tokenizer.ggml.bos_token_id", -1);
    v->eos = num(ck, "tokenizer.ggml.eos_token_id", -1);
    v->unk = num(ck, "tokenizer.ggml.unknown_token_id", -1);
    v->pad = num(ck, "tokenizer.ggml.padding_token_id", -1);
    v->add_bos = (int)num(ck, "tokenizer.ggml.add_bos_token", 1);
    v->add_eos = (int)num(ck, "tokenizer.ggml.add_eos_token", 0);
    const char *file = ck->nfiles ? ck->files[0].path : NULL;
    int rc = ferry_vocab_check(v, file, err);
    if (rc) ferry_vocab_free(v);
    return rc;
oom:
    ferry_vocab_free(v);
    return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory");
}
