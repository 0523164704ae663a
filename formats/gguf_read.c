/* GGUF reader. Mirrors the checks of ggml's gguf.cpp (reference/formats 1.8): versions 2 and
 * 3, bounded strings and arrays, no duplicate keys or tensor names, typed and power-of-two
 * alignment, known tensor types, row sizes in whole blocks, strictly contiguous offsets and
 * a data section that holds every padded tensor. */
#include "ferry/gguf.h"
#include "ferry/ckd.h"
#include "cursor.h"
#include "strset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_str(struct cursor *c, struct ferry_str *out, const char *what)
{
    uint64_t len;
    uint64_t at = c->pos;
    int rc = cur_u64(c, &len, what);
    if (rc) return rc;
    if (len > FERRY_GGUF_MAX_STRING)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, NULL,
                               "%s length %llu exceeds the 64 MiB limit", what,
                               (unsigned long long)len);
    if ((rc = cur_need(c, len, what))) return rc;
    out->s = malloc((size_t)len + 1);
    if (!out->s)
        return ferry_error_set(c->err, FERRY_EINTERNAL, c->path, at, NULL, "out of memory");
    memcpy(out->s, c->p + c->pos, (size_t)len);
    out->s[len] = 0;
    out->len = len;
    c->pos += len;
    return 0;
}

/* Reads one scalar of type t into a native value slot. */
static int read_scalar(struct cursor *c, enum ferry_vtype t, struct ferry_value *v)
{
    uint8_t b[8];
    uint32_t sz = ferry_vtype_size(t);
    int rc = cur_bytes(c, b, sz, "value");
    if (rc) return rc;
    switch (t) {
    case FERRY_V_U8: v->v.u = b[0]; break;
    case FERRY_V_I8: v->v.i = (int8_t)b[0]; break;
    case FERRY_V_BOOL: v->v.u = b[0] != 0; break; /* lenient like gguf.cpp */
    case FERRY_V_U16: v->v.u = rd_u16le(b); break;
    case FERRY_V_I16: v->v.i = (int16_t)rd_u16le(b); break;
    case FERRY_V_U32: v->v.u = rd_u32le(b); break;
    case FERRY_V_I32: v->v.i = (int32_t)rd_u32le(b); break;
    case FERRY_V_U64: v->v.u = rd_u64le(b); break;
    case FERRY_V_I64: v->v.i = (int64_t)rd_u64le(b); break;
    case FERRY_V_F32: {
        float f;
        memcpy(&f, b, 4);
        v->v.f = f;
        break;
    }
    case FERRY_V_F64: memcpy(&v->v.f, b, 8); break;
    default: break;
    }
    return 0;
}

static int read_array(struct cursor *c, struct ferry_value *v)
{
    uint32_t et;
    uint64_t n, at = c->pos;
    int rc = cur_u32(c, &et, "array type");
    if (!rc) rc = cur_u64(c, &n, "array length");
    if (rc) return rc;
    if (et >= FERRY_V_COUNT || et == FERRY_V_ARRAY)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, NULL,
                               "invalid array element type %u", et);
    if (n > FERRY_GGUF_MAX_ARRAY)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, NULL,
                               "array of %llu elements exceeds the limit of %llu",
                               (unsigned long long)n, FERRY_GGUF_MAX_ARRAY);
    uint32_t es = et == FERRY_V_STRING ? 8 : ferry_vtype_size((enum ferry_vtype)et);
    if (n * es > c->size - c->pos) /* n <= 2^26 so n*es cannot overflow */
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, NULL,
                               "truncated: array of %llu elements runs past the end",
                               (unsigned long long)n);
    v->elem_type = (enum ferry_vtype)et;
    v->count = n;
    if (et == FERRY_V_STRING) {
        struct ferry_str *s = calloc(n ? (size_t)n : 1, sizeof(*s));
        if (!s) return ferry_error_set(c->err, FERRY_EINTERNAL, c->path, at, NULL, "out of memory");
        v->arr = s;
        for (uint64_t i = 0; i < n; i++)
            if ((rc = read_str(c, &s[i], "array string"))) {
                v->count = i; /* free only what was read */
                return rc;
            }
        return 0;
    }
    uint32_t ns = et == FERRY_V_BOOL ? 1 : es;
    uint8_t *a = malloc(n ? (size_t)(n * ns) : 1);
    if (!a) return ferry_error_set(c->err, FERRY_EINTERNAL, c->path, at, NULL, "out of memory");
    v->arr = a;
    memcpy(a, c->p + c->pos, (size_t)(n * es)); /* little-endian host assumed (x86-64, arm64) */
    if (et == FERRY_V_BOOL)
        for (uint64_t i = 0; i < n; i++) a[i] = a[i] != 0;
    c->pos += n * es;
    return 0;
}

static int read_kvs(struct cursor *c, struct ferry_ckpt *ck, uint64_t n_kv, int keep,
                    struct ferry_ckpt *scratch)
{
    struct strset seen;
    strset_init(&seen);
    int rc = 0;
    struct ferry_ckpt *dst = keep ? ck : scratch;
    uint64_t first = dst->nkvs;
    for (uint64_t i = 0; i < n_kv && !rc; i++) {
        uint64_t at = c->pos;
        struct ferry_str key = {0};
        if ((rc = read_str(c, &key, "key"))) break;
        if (key.len == 0 || strlen(key.s) != key.len) {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, NULL,
                                 key.len ? "key contains a NUL byte" : "empty key");
            free(key.s);
            break;
        }
        struct ferry_kv *kv = ferry_ckpt_add_kv(dst, key.s, (size_t)key.len);
        free(key.s);
        if (!kv) {
            rc = ferry_error_set(c->err, FERRY_EINTERNAL, c->path, at, NULL, "out of memory");
            break;
        }
        if (strset_add(&seen, kv->key, strlen(kv->key)) == 0) {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, kv->key, "duplicate key");
            break;
        }
        uint32_t t;
        uint64_t tat = c->pos;
        if ((rc = cur_u32(c, &t, "value type"))) break;
        if (t >= FERRY_V_COUNT) {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, tat, kv->key,
                                 "invalid value type %u", t);
            break;
        }
        kv->val.type = (enum ferry_vtype)t;
        if (t == FERRY_V_STRING)
            rc = read_str(c, &kv->val.v.str, "string value");
        else if (t == FERRY_V_ARRAY)
            rc = read_array(c, &kv->val);
        else
            rc = read_scalar(c, kv->val.type, &kv->val);
        ferry_error_object(c->err, kv->key);
    }
    (void)first;
    strset_free(&seen);
    return rc;
}

static int get_alignment(struct cursor *c, const struct ferry_ckpt *ck, uint32_t *align)
{
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, "general.alignment");
    *align = FERRY_GGUF_DEFAULT_ALIGNMENT;
    if (!kv) return 0;
    if (kv->val.type != FERRY_V_U32)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, FERRY_NO_OFFSET, kv->key,
                               "must be uint32, found %s", ferry_vtype_name(kv->val.type));
    uint64_t a = kv->val.v.u;
    if (a == 0 || (a & (a - 1)) || a > FERRY_GGUF_MAX_ALIGNMENT)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, FERRY_NO_OFFSET, kv->key,
                               "alignment %llu is not a power of two up to 1 MiB",
                               (unsigned long long)a);
    *align = (uint32_t)a;
    return 0;
}

/* One tensor info; dims arrive innermost first and are stored outermost first. */
static int read_tensor_info(struct cursor *c, struct ferry_ckpt *ck, uint32_t file,
                            struct strset *names, uint64_t *offset_out)
{
    uint64_t at = c->pos;
    struct ferry_str name = {0};
    int rc = read_str(c, &name, "tensor name");
    if (rc) return rc;
    if (name.len > FERRY_GGUF_MAX_NAME || strlen(name.s) != name.len) {
        rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, name.s,
                             name.len > FERRY_GGUF_MAX_NAME ? "tensor name longer than 63 bytes"
                                                            : "tensor name contains a NUL byte");
        free(name.s);
        return rc;
    }
    struct ferry_tensor *t = ferry_ckpt_add_tensor(ck, name.s, (size_t)name.len);
    free(name.s);
    if (!t) return ferry_error_set(c->err, FERRY_EINTERNAL, c->path, at, NULL, "out of memory");
    t->file = file;
    if (strset_add(names, t->name, strlen(t->name)) == 0)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, at, t->name,
                               "duplicate tensor name");
    uint32_t nd;
    if ((rc = cur_u32(c, &nd, "n_dims"))) goto out;
    if (nd > FERRY_GGUF_MAX_DIMS) {
        rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, c->pos - 4, t->name,
                             "%u dimensions (at most 4)", nd);
        goto out;
    }
    t->ndim = nd;
    uint64_t ne[FERRY_GGUF_MAX_DIMS] = {1, 1, 1, 1};
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < nd; d++) {
        if ((rc = cur_u64(c, &ne[d], "dimension"))) goto out;
        if (ne[d] > INT64_MAX) {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, c->pos - 8, t->name,
                                 "negative dimension %lld", (long long)(int64_t)ne[d]);
            goto out;
        }
        if (ckd_mul_u64(&nelem, nelem, ne[d]) || nelem > INT64_MAX) {
            rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, c->pos - 8, t->name,
                                 "element count overflows");
            goto out;
        }
        t->shape[nd - 1 - d] = ne[d];
    }
    t->nelem = nelem;
    uint32_t type;
    if ((rc = cur_u32(c, &type, "tensor type"))) goto out;
    t->dtype = ferry_dtype_from_ggml(type);
    if (t->dtype == FERRY_DT_INVALID) {
        rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, c->pos - 4, t->name,
                             "unknown or removed ggml type %u", type);
        goto out;
    }
    const struct ferry_dtype_info *di = ferry_dtype_lookup(t->dtype);
    if (ne[0] % di->blck) {
        rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, c->pos - 4, t->name,
                             "row of %llu elements is not a multiple of the %s block size %u",
                             (unsigned long long)ne[0], di->name, di->blck);
        goto out;
    }
    if (ferry_dtype_nbytes(t->dtype, nelem, &t->nbytes) || t->nbytes > INT64_MAX) {
        rc = ferry_error_set(c->err, FERRY_EMALFORMED, c->path, c->pos - 4, t->name,
                             "byte size overflows");
        goto out;
    }
    rc = cur_u64(c, offset_out, "tensor offset");
out:
    ferry_error_object(c->err, t->name);
    return rc;
}

/* Reads one GGUF file; kvs are kept only for the first file of a set. */
static int read_one(struct ferry_ckpt *ck, const char *path, int keep_kvs,
                    struct ferry_ckpt *scratch, struct strset *names, struct ferry_error *err)
{
    uint32_t file;
    int rc = ferry_ckpt_add_file(ck, path, &file, err);
    if (rc) return rc;
    const struct ferry_map *m = &ck->files[file];
    struct cursor c = {m->data, m->size, 0, path, err};
    uint8_t magic[4];
    if ((rc = cur_bytes(&c, magic, 4, "magic"))) return rc;
    if (memcmp(magic, "GGUF", 4) != 0)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL, "not a GGUF file (bad magic)");
    uint32_t version;
    if ((rc = cur_u32(&c, &version, "version"))) return rc;
    if (version == 0 || (version & 0xffffu) == 0 || version == 1 || version > 3)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 4, NULL,
                               (version & 0xffffu) == 0 && version
                                   ? "version %#x: endianness mismatch (big-endian file?)"
                               : version == 1 ? "GGUF version %u is no longer supported"
                                              : "unsupported GGUF version %u",
                               version);
    uint64_t n_tensors, n_kv;
    if ((rc = cur_u64(&c, &n_tensors, "tensor count"))) return rc;
    if ((rc = cur_u64(&c, &n_kv, "metadata count"))) return rc;
    /* each tensor info needs >= 24 bytes, each kv >= 12: bound counts by the file size */
    if (n_tensors > (m->size - c.pos) / 24)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 8, NULL,
                               "tensor count %llu cannot fit in the file",
                               (unsigned long long)n_tensors);
    if (n_kv > (m->size - c.pos) / 12)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 16, NULL,
                               "metadata count %llu cannot fit in the file",
                               (unsigned long long)n_kv);
    if (keep_kvs) ck->version = version;
    if ((rc = read_kvs(&c, ck, n_kv, keep_kvs, scratch))) return rc;
    uint32_t align;
    if ((rc = get_alignment(&c, keep_kvs ? ck : scratch, &align))) return rc;
    if (keep_kvs) ck->alignment = align;

    uint64_t first = ck->ntensors;
    uint64_t *offs = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof(*offs));
    if (!offs) return ferry_error_set(err, FERRY_EINTERNAL, path, c.pos, NULL, "out of memory");
    for (uint64_t i = 0; i < n_tensors && !rc; i++)
        rc = read_tensor_info(&c, ck, file, names, &offs[i]);
    uint64_t data = c.pos;
    if (!rc && n_tensors > 0 && ckd_pad_u64(&data, c.pos, align))
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, c.pos, NULL, "size overflow");
    if (keep_kvs) ck->data_offset = data;
    uint64_t expect = 0;
    for (uint64_t i = 0; i < n_tensors && !rc; i++) {
        struct ferry_tensor *t = &ck->tensors[first + i];
        if (offs[i] != expect) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, t->name,
                                 "tensor data offset %llu, expected %llu (alignment %u)",
                                 (unsigned long long)offs[i], (unsigned long long)expect, align);
            break;
        }
        uint64_t padded;
        if (ckd_pad_u64(&padded, t->nbytes, align) || ckd_add_u64(&expect, expect, padded) ||
            ckd_add_u64(&t->offset, data, offs[i])) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, t->name,
                                 "data size overflows");
            break;
        }
    }
    uint64_t end;
    if (!rc && n_tensors > 0 && (ckd_add_u64(&end, data, expect) || end > m->size))
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                             "truncated: tensor data needs %llu bytes from offset %llu, file has "
                             "%llu",
                             (unsigned long long)expect, (unsigned long long)data,
                             (unsigned long long)m->size);
    for (uint64_t i = 0; i < n_tensors && !rc; i++) {
        struct ferry_tensor *t = &ck->tensors[first + i];
        t->data = m->data + t->offset;
    }
    free(offs);
    return rc;
}

static int kv_u64(const struct ferry_ckpt *ck, const char *key, uint64_t *v)
{
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, key);
    int64_t x;
    if (!kv || ferry_value_as_i64(&kv->val, &x) || x < 0) return -1;
    *v = (uint64_t)x;
    return 0;
}

/* "DIR/NAME-00001-of-00003.gguf" -> prefix "DIR/NAME", or NULL when not split-named. */
static char *split_prefix(const char *path)
{
    size_t n = strlen(path);
    const char *suffix = "-00001-of-00000.gguf";
    size_t sl = strlen(suffix);
    if (n < sl) return NULL;
    const char *s = path + n - sl;
    unsigned a, b;
    char tail[8];
    if (sscanf(s, "-%5u-of-%5u%7s", &a, &b, tail) != 3 || strcmp(tail, ".gguf") != 0) return NULL;
    char *p = malloc(n - sl + 1);
    if (p) {
        memcpy(p, path, n - sl);
        p[n - sl] = 0;
    }
    return p;
}

/* A GGUF file, and with follow_split the other shards of the split set it opens. */
static int read_set(struct ferry_ckpt *ck, const char *path, int follow_split,
                    struct ferry_error *err)
{
    struct strset names;
    strset_init(&names);
    struct ferry_ckpt scratch;
    ferry_ckpt_init(&scratch);
    ck->format = "gguf";
    int rc = read_one(ck, path, 1, &scratch, &names, err);
    uint64_t count = 0, no = 0;
    if (!rc && follow_split && !kv_u64(ck, "split.count", &count) && count > 1) {
        if (kv_u64(ck, "split.no", &no) || no != 0) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, "split.no",
                                 "open the first shard (split.no 0) of a split set");
            goto out;
        }
        char *prefix = split_prefix(path);
        if (!prefix) {
            rc =
                ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                "split.count is %llu but the name is not NAME-00001-of-%05llu.gguf",
                                (unsigned long long)count, (unsigned long long)count);
            goto out;
        }
        for (uint64_t k = 1; k < count && !rc; k++) {
            size_t len = strlen(prefix) + 32;
            char *p = malloc(len);
            if (!p) {
                rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
                break;
            }
            snprintf(p, len, "%s-%05llu-of-%05llu.gguf", prefix, (unsigned long long)k + 1,
                     (unsigned long long)count);
            ferry_ckpt_free(&scratch);
            ferry_ckpt_init(&scratch);
            rc = read_one(ck, p, 0, &scratch, &names, err);
            if (rc == FERRY_ENOINPUT && err) { /* as for an index: the set is incomplete */
                err->code = rc = FERRY_EMALFORMED;
                snprintf(err->cause, sizeof(err->cause),
                         "shard %llu of the split set that %s begins is missing",
                         (unsigned long long)k + 1, path);
            }
            uint64_t sno = 0;
            if (!rc && (kv_u64(&scratch, "split.no", &sno) || sno != k))
                rc = ferry_error_set(err, FERRY_EMALFORMED, p, FERRY_NO_OFFSET, "split.no",
                                     "expected shard index %llu", (unsigned long long)k);
            free(p);
        }
        free(prefix);
        uint64_t total;
        if (!rc && !kv_u64(ck, "split.tensors.count", &total) && total != ck->ntensors)
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET,
                                 "split.tensors.count", "says %llu tensors, the shards hold %llu",
                                 (unsigned long long)total, (unsigned long long)ck->ntensors);
    }
out:
    ferry_ckpt_free(&scratch);
    strset_free(&names);
    return rc;
}

int ferry_gguf_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    return read_set(ck, path, 1, err);
}

int ferry_gguf_read_one(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    return read_set(ck, path, 0, err);
}
