/* llama2.c legacy checkpoint and tokenizer readers. The .bin header is 7 int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len); a negative
 * vocab_size means a separate classifier follows. Weights are F32 in a fixed order. */
#include "ferry/llama2c.h"
#include "ferry/ckd.h"
#include "cursor.h"

#include <stdlib.h>
#include <string.h>

static const char *hdr_keys[7] = {"llama2c.dim",     "llama2c.hidden_dim", "llama2c.n_layers",
                                  "llama2c.n_heads", "llama2c.n_kv_heads", "llama2c.vocab_size",
                                  "llama2c.seq_len"};

int ferry_llama2c_read_config(const struct ferry_ckpt *ck, struct ferry_llama2c_config *cfg)
{
    int32_t *f[7] = {&cfg->dim,        &cfg->hidden_dim, &cfg->n_layers, &cfg->n_heads,
                     &cfg->n_kv_heads, &cfg->vocab_size, &cfg->seq_len};
    for (int i = 0; i < 7; i++) {
        const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, hdr_keys[i]);
        if (!kv || kv->val.type != FERRY_V_I32) return -1;
        *f[i] = (int32_t)kv->val.v.i;
    }
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, "llama2c.shared_classifier");
    cfg->shared_classifier = kv && kv->val.v.u;
    return 0;
}

int ferry_llama2c_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    uint32_t file;
    int rc = ferry_ckpt_add_file(ck, path, &file, err);
    if (rc) return rc;
    ck->format = "llama2c";
    const struct ferry_map *m = &ck->files[file];
    if (m->size < 28)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "truncated: llama2.c header needs 28 bytes");
    int32_t h[7];
    for (int i = 0; i < 7; i++) h[i] = (int32_t)rd_u32le(m->data + 4 * i);
    int shared = h[5] > 0;
    /* INT32_MIN has no positive counterpart: it stays negative and is refused below */
    if (h[5] < 0 && h[5] != INT32_MIN) h[5] = -h[5];
    for (int i = 0; i < 7; i++)
        if (h[i] <= 0 || h[i] > (1 << 24))
            return ferry_error_set(err, FERRY_EMALFORMED, path, (uint64_t)(4 * i), hdr_keys[i],
                                   "implausible header value %d (not a llama2.c .bin?)", h[i]);
    uint64_t dim = (uint64_t)h[0], hid = (uint64_t)h[1], L = (uint64_t)h[2], nh = (uint64_t)h[3],
             nkv = (uint64_t)h[4], V = (uint64_t)h[5], S = (uint64_t)h[6];
    if (dim % nh || nh % nkv || (dim / nh) % 2)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "inconsistent header: dim %llu, %llu heads, %llu kv heads",
                               (unsigned long long)dim, (unsigned long long)nh,
                               (unsigned long long)nkv);
    uint64_t hs = dim / nh, kvd = nkv * hs;
    for (int i = 0; i < 7; i++) {
        struct ferry_kv *kv = ferry_ckpt_add_kv(ck, hdr_keys[i], strlen(hdr_keys[i]));
        if (!kv) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "oom");
        kv->val.type = FERRY_V_I32;
        kv->val.v.i = h[i];
    }
    struct ferry_kv *skv = ferry_ckpt_add_kv(ck, "llama2c.shared_classifier", 25);
    if (!skv) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "oom");
    skv->val.type = FERRY_V_BOOL;
    skv->val.v.u = (uint64_t)shared;
    /* (name, shape) in file order; shapes are [rows, cols] per layer */
    struct {
        const char *name;
        uint32_t ndim;
        uint64_t shape[3];
    } layout[] = {
        {"token_embedding_table", 2, {V, dim}},
        {"rms_att_weight", 2, {L, dim}},
        {"wq", 3, {L, dim, dim}},
        {"wk", 3, {L, kvd, dim}},
        {"wv", 3, {L, kvd, dim}},
        {"wo", 3, {L, dim, dim}},
        {"rms_ffn_weight", 2, {L, dim}},
        {"w1", 3, {L, hid, dim}},
        {"w2", 3, {L, dim, hid}},
        {"w3", 3, {L, hid, dim}},
        {"rms_final_weight", 1, {dim}},
        {"freq_cis_real", 2, {S, hs / 2}},
        {"freq_cis_imag", 2, {S, hs / 2}},
        {"wcls", 2, {V, dim}},
    };
    size_t n = sizeof(layout) / sizeof(layout[0]) - (shared ? 1 : 0);
    uint64_t off = 28;
    for (size_t i = 0; i < n; i++) {
        struct ferry_tensor *t = ferry_ckpt_add_tensor(ck, layout[i].name, strlen(layout[i].name));
        if (!t) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "oom");
        t->file = file;
        t->dtype = FERRY_DT_F32;
        t->ndim = layout[i].ndim;
        memcpy(t->shape, layout[i].shape, sizeof(layout[i].shape));
        if (ferry_shape_nelem(t->shape, t->ndim, &t->nelem) ||
            ckd_mul_u64(&t->nbytes, t->nelem, 4) || off > m->size || t->nbytes > m->size - off)
            return ferry_error_set(err, FERRY_EMALFORMED, path, off, t->name,
                                   "truncated: %llu bytes of weights do not fit in the file",
                                   (unsigned long long)t->nbytes);
        t->offset = off;
        t->data = m->data + off;
        off += t->nbytes;
    }
    if (off != m->size)
        return ferry_error_set(err, FERRY_EMALFORMED, path, off, NULL,
                               "%llu trailing bytes after the weights the header describes",
                               (unsigned long long)(m->size - off));
    return 0;
}

int ferry_llama2c_tokenizer_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    uint32_t file;
    int rc = ferry_ckpt_add_file(ck, path, &file, err);
    if (rc) return rc;
    ck->format = "llama2c-tokenizer";
    const struct ferry_map *m = &ck->files[file];
    struct cursor c = {m->data, m->size, 0, path, err};
    uint32_t maxlen;
    if ((rc = cur_u32(&c, &maxlen, "max_token_length"))) return rc;
    if (maxlen == 0 || maxlen > 65536)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "implausible max_token_length %u", maxlen);
    /* count first so arrays are allocated once */
    uint64_t count = 0;
    for (uint64_t p = 4; p < m->size; count++) {
        if (m->size - p < 8)
            return ferry_error_set(err, FERRY_EMALFORMED, path, p, NULL, "truncated token entry");
        uint32_t len = rd_u32le(m->data + p + 4);
        if (len > maxlen || len > m->size - p - 8)
            return ferry_error_set(err, FERRY_EMALFORMED, path, p + 4, NULL,
                                   "token length %u exceeds max_token_length %u or the file", len,
                                   maxlen);
        p += 8 + len;
    }
    struct ferry_kv *tk = ferry_ckpt_add_kv(ck, "tokenizer.ggml.tokens", 21);
    struct ferry_kv *sk = tk ? ferry_ckpt_add_kv(ck, "tokenizer.ggml.scores", 21) : NULL;
    if (!sk) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "oom");
    tk = &ck->kvs[ck->nkvs - 2];
    tk->val.type = sk->val.type = FERRY_V_ARRAY;
    tk->val.elem_type = FERRY_V_STRING;
    sk->val.elem_type = FERRY_V_F32;
    struct ferry_str *toks = calloc(count ? (size_t)count : 1, sizeof(*toks));
    float *scores = calloc(count ? (size_t)count : 1, sizeof(float));
    tk->val.arr = toks;
    sk->val.arr = scores;
    if (!toks || !scores) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "oom");
    uint64_t p = 4;
    for (uint64_t i = 0; i < count; i++) {
        memcpy(&scores[i], m->data + p, 4);
        uint32_t len = rd_u32le(m->data + p + 4);
        toks[i].s = malloc(len + 1u);
        if (!toks[i].s) return ferry_error_set(err, FERRY_EINTERNAL, path, p, NULL, "oom");
        memcpy(toks[i].s, m->data + p + 8, len);
        toks[i].s[len] = 0;
        toks[i].len = len;
        tk->val.count = sk->val.count = i + 1;
        p += 8 + len;
    }
    struct ferry_kv *mk = ferry_ckpt_add_kv(ck, "llama2c.max_token_length", 24);
    if (!mk) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "oom");
    mk->val.type = FERRY_V_U32;
    mk->val.v.u = maxlen;
    return 0;
}
