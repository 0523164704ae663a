/* The checkpoint container shared by all readers: files, metadata, tensors. */
#include "ferry/ckpt.h"
#include "ferry/ckd.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

void ferry_ckpt_init(struct ferry_ckpt *ck)
{
    memset(ck, 0, sizeof(*ck));
}

static void value_free(struct ferry_value *v)
{
    if (v->type == FERRY_V_STRING) free(v->v.str.s);
    if (v->type == FERRY_V_ARRAY && v->arr) {
        if (v->elem_type == FERRY_V_STRING) {
            struct ferry_str *s = v->arr;
            for (uint64_t i = 0; i < v->count; i++) free(s[i].s);
        }
        free(v->arr);
    }
}

void ferry_ckpt_free(struct ferry_ckpt *ck)
{
    for (uint32_t i = 0; i < ck->nfiles; i++) ferry_map_close(&ck->files[i]);
    free(ck->files);
    for (uint64_t i = 0; i < ck->nkvs; i++) {
        free(ck->kvs[i].key);
        value_free(&ck->kvs[i].val);
    }
    free(ck->kvs);
    for (uint64_t i = 0; i < ck->ntensors; i++) free(ck->tensors[i].name);
    free(ck->tensors);
    memset(ck, 0, sizeof(*ck));
}

/* Makes room for element n of an array that grows by doubling: capacity is 8 at first and
 * doubles whenever the count reaches a power of two. */
static int grow(void **arr, uint64_t n, size_t elem)
{
    uint64_t cap;
    if (n == 0)
        cap = 8;
    else if (n >= 8 && (n & (n - 1)) == 0)
        cap = n * 2;
    else
        return 0;
    void *p = realloc(*arr, (size_t)cap * elem);
    if (!p) return -1;
    *arr = p;
    return 0;
}

int ferry_ckpt_add_file(struct ferry_ckpt *ck, const char *path, uint32_t *idx,
                        struct ferry_error *err)
{
    if (grow((void **)&ck->files, ck->nfiles, sizeof(*ck->files)))
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    int rc = ferry_map_open(&ck->files[ck->nfiles], path, err);
    if (rc) return rc;
    if (idx) *idx = ck->nfiles;
    ck->nfiles++;
    return 0;
}

int ferry_ckpt_add_memory(struct ferry_ckpt *ck, const char *name, uint64_t size, uint8_t **data,
                          uint32_t *idx, struct ferry_error *err)
{
    if (grow((void **)&ck->files, ck->nfiles, sizeof(*ck->files)))
        return ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL, "out of memory");
    struct ferry_map *m = &ck->files[ck->nfiles];
    memset(m, 0, sizeof(*m));
    m->fd = -1;
    void *p =
        size ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
             : NULL;
    if (size && p == MAP_FAILED)
        return ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL,
                               "cannot hold %llu bytes in memory", (unsigned long long)size);
    if (!(m->path = strdup(name))) {
        if (p) munmap(p, (size_t)size);
        return ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    m->data = p, m->base = p, m->base_len = (size_t)size, m->size = size;
    *data = p;
    if (idx) *idx = ck->nfiles;
    ck->nfiles++;
    return 0;
}

static char *dupn(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

struct ferry_tensor *ferry_ckpt_add_tensor(struct ferry_ckpt *ck, const char *name, size_t len)
{
    if (grow((void **)&ck->tensors, ck->ntensors, sizeof(*ck->tensors))) return NULL;
    struct ferry_tensor *t = &ck->tensors[ck->ntensors];
    memset(t, 0, sizeof(*t));
    t->name = dupn(name, len);
    if (!t->name) return NULL;
    t->contiguous = 1;
    ck->ntensors++;
    return t;
}

struct ferry_kv *ferry_ckpt_add_kv(struct ferry_ckpt *ck, const char *key, size_t len)
{
    if (grow((void **)&ck->kvs, ck->nkvs, sizeof(*ck->kvs))) return NULL;
    struct ferry_kv *kv = &ck->kvs[ck->nkvs];
    memset(kv, 0, sizeof(*kv));
    kv->key = dupn(key, len);
    if (!kv->key) return NULL;
    kv->val.type = FERRY_V_U8;
    ck->nkvs++;
    return kv;
}

int ferry_str_set(struct ferry_str *t, const char *s, size_t len)
{
    free(t->s);
    t->s = dupn(s, len);
    t->len = t->s ? len : 0;
    return t->s ? 0 : -1;
}

int ferry_ckpt_kv_set_string(struct ferry_kv *kv, const char *s, size_t len)
{
    kv->val.type = FERRY_V_STRING;
    kv->val.v.str.s = dupn(s, len);
    kv->val.v.str.len = len;
    return kv->val.v.str.s ? 0 : -1;
}

const struct ferry_kv *ferry_ckpt_find_kv(const struct ferry_ckpt *ck, const char *key)
{
    for (uint64_t i = 0; i < ck->nkvs; i++)
        if (strcmp(ck->kvs[i].key, key) == 0) return &ck->kvs[i];
    return NULL;
}

const struct ferry_tensor *ferry_ckpt_find_tensor(const struct ferry_ckpt *ck, const char *name)
{
    for (uint64_t i = 0; i < ck->ntensors; i++)
        if (strcmp(ck->tensors[i].name, name) == 0) return &ck->tensors[i];
    return NULL;
}

int ferry_shape_nelem(const uint64_t *shape, uint32_t ndim, uint64_t *out)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < ndim; i++)
        if (ckd_mul_u64(&n, n, shape[i])) return -1;
    *out = n;
    return 0;
}

int ferry_value_as_i64(const struct ferry_value *v, int64_t *out)
{
    switch (v->type) {
    case FERRY_V_U8:
    case FERRY_V_U16:
    case FERRY_V_U32:
    case FERRY_V_BOOL: *out = (int64_t)v->v.u; return 0;
    case FERRY_V_U64:
        if (v->v.u > INT64_MAX) return -1;
        *out = (int64_t)v->v.u;
        return 0;
    case FERRY_V_I8:
    case FERRY_V_I16:
    case FERRY_V_I32:
    case FERRY_V_I64: *out = v->v.i; return 0;
    default: return -1;
    }
}

static const struct {
    const char *name;
    uint32_t size;
} vtypes[FERRY_V_COUNT] = {
    {"uint8", 1},  {"int8", 1},    {"uint16", 2},  {"int16", 2},  {"uint32", 4},
    {"int32", 4},  {"float32", 4}, {"bool", 1},    {"string", 0}, {"array", 0},
    {"uint64", 8}, {"int64", 8},   {"float64", 8},
};

const char *ferry_vtype_name(enum ferry_vtype t)
{
    return (unsigned)t < FERRY_V_COUNT ? vtypes[t].name : "invalid";
}

uint32_t ferry_vtype_size(enum ferry_vtype t)
{
    return (unsigned)t < FERRY_V_COUNT ? vtypes[t].size : 0;
}

static void swap_bytes(uint8_t *p, uint64_t n, uint32_t es)
{
    for (uint64_t i = 0; i + es <= n; i += es)
        for (uint32_t a = 0, b = es - 1; a < b; a++, b--) {
            uint8_t x = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = x;
        }
}

int ferry_tensor_read(const struct ferry_ckpt *ck, const struct ferry_tensor *t, uint64_t off,
                      uint64_t n, void *dst, struct ferry_error *err)
{
    (void)ck;
    uint64_t end;
    if (ckd_add_u64(&end, off, n) || end > t->nbytes)
        return ferry_error_set(err, FERRY_EINTERNAL, NULL, off, t->name, "read past tensor end");
    if (t->contiguous) {
        if (n) memcpy(dst, t->data + off, (size_t)n);
    } else {
        /* Gather a strided view element by element, innermost dimension fastest. */
        uint32_t es = ferry_dtype_elem_size(t->dtype);
        if (!es || off % es || n % es)
            return ferry_error_set(err, FERRY_EINTERNAL, NULL, off, t->name, "unaligned read");
        uint64_t idx[FERRY_MAX_DIMS] = {0};
        uint64_t e = off / es, cnt = n / es;
        for (int d = (int)t->ndim - 1; d >= 0; d--) {
            idx[d] = e % t->shape[d];
            e /= t->shape[d];
        }
        uint8_t *out = dst;
        for (uint64_t k = 0; k < cnt; k++) {
            int64_t lin = 0;
            for (uint32_t d = 0; d < t->ndim; d++) lin += (int64_t)idx[d] * t->strides[d];
            memcpy(out + k * es, t->data + lin * (int64_t)es, es);
            for (int d = (int)t->ndim - 1; d >= 0; d--) {
                if (++idx[d] < t->shape[d]) break;
                idx[d] = 0;
            }
        }
    }
    if (t->byteswap) swap_bytes(dst, n, ferry_dtype_elem_size(t->dtype));
    return 0;
}

void ferry_error_object(struct ferry_error *err, const char *object)
{
    if (err && err->code && !err->object[0] && object)
        snprintf(err->object, sizeof(err->object), "%s", object);
}
