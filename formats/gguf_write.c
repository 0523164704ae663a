/* GGUF v3 writer: header, metadata in the caller's order, tensor infos, then each
 * tensor's bytes padded with zeros to the alignment (also after the last tensor, as
 * ggml's writer does). Tensor data is streamed in bounded chunks. */
#include "ferry/gguf.h"
#include "ferry/ckd.h"
#include "cursor.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK (4u << 20)

struct wr {
    struct ferry_out out;
    struct ferry_error *err;
};

static int put(struct wr *w, const void *p, uint64_t n)
{
    return ferry_out_write(&w->out, p, n, w->err);
}

static int put_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4];
    wr_u32le(b, v);
    return put(w, b, 4);
}

static int put_u64(struct wr *w, uint64_t v)
{
    uint8_t b[8];
    wr_u64le(b, v);
    return put(w, b, 8);
}

static int put_str(struct wr *w, const char *s, uint64_t len)
{
    int rc = put_u64(w, len);
    return rc ? rc : put(w, s, len);
}

static int put_scalar(struct wr *w, enum ferry_vtype t, const struct ferry_value *v)
{
    uint8_t b[8];
    uint32_t sz = ferry_vtype_size(t);
    switch (t) {
    case FERRY_V_F32: {
        float f = (float)v->v.f;
        memcpy(b, &f, 4);
        break;
    }
    case FERRY_V_F64: memcpy(b, &v->v.f, 8); break;
    case FERRY_V_BOOL: b[0] = v->v.u != 0; break;
    default: wr_u64le(b, v->v.u); break; /* two's complement low bytes for signed types */
    }
    return put(w, b, sz);
}

static int put_value(struct wr *w, const struct ferry_value *v)
{
    int rc = put_u32(w, (uint32_t)v->type);
    if (rc) return rc;
    if (v->type == FERRY_V_STRING) return put_str(w, v->v.str.s, v->v.str.len);
    if (v->type != FERRY_V_ARRAY) return put_scalar(w, v->type, v);
    if ((rc = put_u32(w, (uint32_t)v->elem_type)) || (rc = put_u64(w, v->count))) return rc;
    if (v->elem_type == FERRY_V_STRING) {
        const struct ferry_str *s = v->arr;
        for (uint64_t i = 0; i < v->count && !rc; i++) rc = put_str(w, s[i].s, s[i].len);
        return rc;
    }
    return put(w, v->arr, v->count * ferry_vtype_size(v->elem_type));
}

static int own_source(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                      struct ferry_error *err)
{
    const struct ferry_ckpt *ck = ctx;
    return ferry_tensor_read(ck, &ck->tensors[i], off, n, dst, err);
}

static uint64_t value_size(const struct ferry_value *v)
{
    if (v->type == FERRY_V_STRING) return 8 + v->v.str.len;
    if (v->type != FERRY_V_ARRAY) return ferry_vtype_size(v->type);
    uint64_t n = 12;
    if (v->elem_type == FERRY_V_STRING) {
        const struct ferry_str *s = v->arr;
        for (uint64_t i = 0; i < v->count; i++) n += 8 + s[i].len;
        return n;
    }
    return n + v->count * ferry_vtype_size(v->elem_type);
}

uint64_t ferry_gguf_kv_value_offset(const struct ferry_ckpt *desc, uint64_t index)
{
    uint64_t off = 24; /* magic, version, tensor count, kv count */
    for (uint64_t i = 0; i < index && i < desc->nkvs; i++)
        off += 8 + strlen(desc->kvs[i].key) + 4 + value_size(&desc->kvs[i].val);
    off += 8 + strlen(desc->kvs[index].key) + 4;
    return desc->kvs[index].val.type == FERRY_V_STRING ? off + 8 : off;
}

int ferry_gguf_write(const struct ferry_ckpt *desc, const char *path, int force,
                     ferry_tensor_source src, void *ctx, struct ferry_error *err)
{
    return ferry_gguf_write_hooked(desc, path, force, src, ctx, NULL, err);
}

int ferry_gguf_write_hooked(const struct ferry_ckpt *desc, const char *path, int force,
                            ferry_tensor_source src, void *ctx,
                            int (*before_commit)(void *ctx, struct ferry_out *out,
                                                 struct ferry_error *err),
                            struct ferry_error *err)
{
    uint32_t align = FERRY_GGUF_DEFAULT_ALIGNMENT;
    const struct ferry_kv *akv = ferry_ckpt_find_kv(desc, "general.alignment");
    if (akv) {
        if (akv->val.type != FERRY_V_U32 || !akv->val.v.u || (akv->val.v.u & (akv->val.v.u - 1)))
            return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, "general.alignment",
                                   "must be a uint32 power of two");
        align = (uint32_t)akv->val.v.u;
    }
    for (uint64_t i = 0; i < desc->ntensors; i++) {
        const struct ferry_tensor *t = &desc->tensors[i];
        const struct ferry_dtype_info *di = ferry_dtype_lookup(t->dtype);
        if (di->ggml_id < 0)
            return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, t->name,
                                   "dtype %s has no GGUF type", di->name);
        if (t->ndim > FERRY_GGUF_MAX_DIMS || strlen(t->name) > FERRY_GGUF_MAX_NAME)
            return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, t->name,
                                   "GGUF allows at most 4 dimensions and 63-byte names");
        if (t->ndim && t->shape[t->ndim - 1] % di->blck)
            return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, t->name,
                                   "row is not a multiple of the %s block size", di->name);
    }
    if (!src) {
        src = own_source;
        ctx = (void *)desc;
    }
    struct wr w = {.err = err};
    int rc = ferry_out_open(&w.out, path, force, err);
    if (rc) return rc;
    uint8_t *buf = NULL;
    if ((rc = put(&w, "GGUF", 4)) || (rc = put_u32(&w, 3)) || (rc = put_u64(&w, desc->ntensors)) ||
        (rc = put_u64(&w, desc->nkvs)))
        goto out;
    for (uint64_t i = 0; i < desc->nkvs && !rc; i++) {
        const struct ferry_kv *kv = &desc->kvs[i];
        if (!(rc = put_str(&w, kv->key, strlen(kv->key)))) rc = put_value(&w, &kv->val);
    }
    uint64_t off = 0;
    for (uint64_t i = 0; i < desc->ntensors && !rc; i++) {
        const struct ferry_tensor *t = &desc->tensors[i];
        if ((rc = put_str(&w, t->name, strlen(t->name))) || (rc = put_u32(&w, t->ndim))) break;
        for (uint32_t d = 0; d < t->ndim && !rc; d++) rc = put_u64(&w, t->shape[t->ndim - 1 - d]);
        const struct ferry_dtype_info *di = ferry_dtype_lookup(t->dtype);
        if (rc || (rc = put_u32(&w, (uint32_t)di->ggml_id)) || (rc = put_u64(&w, off))) break;
        uint64_t padded;
        if (ckd_pad_u64(&padded, t->nbytes, align) || ckd_add_u64(&off, off, padded))
            rc = ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, t->name, "too large");
    }
    if (rc || (desc->ntensors && (rc = ferry_out_pad(&w.out, align, err)))) goto out;
    buf = malloc(CHUNK);
    if (!buf) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < desc->ntensors && !rc; i++) {
        const struct ferry_tensor *t = &desc->tensors[i];
        for (uint64_t o = 0; o < t->nbytes && !rc; o += CHUNK) {
            uint64_t n = t->nbytes - o < CHUNK ? t->nbytes - o : CHUNK;
            rc = src(ctx, i, o, n, buf, err);
            if (!rc) rc = put(&w, buf, n);
        }
        ferry_error_object(err, t->name);
        if (!rc) rc = ferry_out_pad(&w.out, align, err);
    }
    if (!rc && before_commit) rc = before_commit(ctx, &w.out, err);
    if (!rc) rc = ferry_out_commit(&w.out, err);
out:
    free(buf);
    if (rc) ferry_out_abort(&w.out);
    return rc;
}
