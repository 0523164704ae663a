/* safetensors writer: compact JSON header (__metadata__ first) padded with spaces to a
 * multiple of 8, tensors packed from offset 0 in the reference writer's order (widest
 * dtype first, then by name), data streamed in bounded chunks. */
#include "ferry/safetensors.h"
#include "cursor.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (4u << 20)

/* The reference dtype enum order (narrowest to widest alignment). */
static int rank(enum ferry_dtype dt)
{
    static const char *order[] = {
        "BOOL",    "F4",          "F6_E2M3",     "F6_E3M2", "U8",  "I8",  "F8_E5M2", "F8_E4M3",
        "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16",     "U16", "F16", "BF16",    "I32",
        "U32",     "F32",         "C64",         "F64",     "I64", "U64"};
    for (int i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
        if (strcmp(order[i], ferry_dtype_name(dt)) == 0) return i;
    return -1;
}

struct ord {
    const struct ferry_tensor *t;
    uint64_t i;
};

static int cmp_ord(const void *a, const void *b)
{
    const struct ord *x = a, *y = b;
    int rx = rank(x->t->dtype), ry = rank(y->t->dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->t->name, y->t->name);
}

static int own_source(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                      struct ferry_error *err)
{
    const struct ferry_ckpt *ck = ctx;
    return ferry_tensor_read(ck, &ck->tensors[i], off, n, dst, err);
}

int ferry_safetensors_write(const struct ferry_ckpt *desc, const char *path, int force,
                            ferry_tensor_source src, void *ctx, struct ferry_error *err)
{
    int rc = 0;
    struct ord *ord = calloc(desc->ntensors ? (size_t)desc->ntensors : 1, sizeof(*ord));
    json_t *root = json_object();
    char *hdr = NULL;
    uint8_t *buf = NULL;
    struct ferry_out out = {0};
    if (!ord || !root) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        goto out;
    }
    if (!src) {
        src = own_source;
        ctx = (void *)desc;
    }
    json_t *meta = NULL;
    for (uint64_t i = 0; i < desc->nkvs; i++) {
        const struct ferry_kv *kv = &desc->kvs[i];
        if (kv->val.type != FERRY_V_STRING) continue; /* safetensors metadata is strings only */
        if (!meta) meta = json_object();
        json_object_set_new(meta, kv->key,
                            json_stringn(kv->val.v.str.s, (size_t)kv->val.v.str.len));
    }
    if (meta) json_object_set_new(root, "__metadata__", meta);
    for (uint64_t i = 0; i < desc->ntensors; i++) {
        ord[i].t = &desc->tensors[i];
        ord[i].i = i;
        if (rank(ord[i].t->dtype) < 0) {
            rc = ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, ord[i].t->name,
                                 "dtype %s has no safetensors equivalent (dequantize first)",
                                 ferry_dtype_name(ord[i].t->dtype));
            goto out;
        }
    }
    qsort(ord, (size_t)desc->ntensors, sizeof(*ord), cmp_ord);
    uint64_t off = 0;
    for (uint64_t i = 0; i < desc->ntensors; i++) {
        const struct ferry_tensor *t = ord[i].t;
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        json_object_set_new(e, "dtype", json_string(ferry_dtype_name(t->dtype)));
        for (uint32_t d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_object_set_new(e, "shape", shape);
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += t->nbytes;
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_object_set_new(e, "data_offsets", offs);
        if (json_object_get(root, t->name)) {
            json_decref(e);
            rc = ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, t->name,
                                 "duplicate tensor name");
            goto out;
        }
        json_object_set_new(root, t->name, e);
    }
    hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!hdr) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        goto out;
    }
    uint64_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    if (padded > FERRY_ST_MAX_HEADER) {
        rc = ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                             "header of %llu bytes exceeds the 100 MB limit",
                             (unsigned long long)padded);
        goto out;
    }
    if ((rc = ferry_out_open(&out, path, force, err))) goto out;
    uint8_t lenb[8];
    wr_u64le(lenb, padded);
    static const char spaces[8] = "        ";
    if ((rc = ferry_out_write(&out, lenb, 8, err)) ||
        (rc = ferry_out_write(&out, hdr, hlen, err)) ||
        (rc = ferry_out_write(&out, spaces, padded - hlen, err)))
        goto out;
    buf = malloc(CHUNK);
    if (!buf) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < desc->ntensors && !rc; i++) {
        const struct ferry_tensor *t = ord[i].t;
        for (uint64_t o = 0; o < t->nbytes && !rc; o += CHUNK) {
            uint64_t n = t->nbytes - o < CHUNK ? t->nbytes - o : CHUNK;
            rc = src(ctx, ord[i].i, o, n, buf, err);
            if (!rc) rc = ferry_out_write(&out, buf, n, err);
        }
        ferry_error_object(err, t->name);
    }
    if (!rc) rc = ferry_out_commit(&out, err);
out:
    if (rc && out.tmp) ferry_out_abort(&out);
    free(buf);
    free(hdr);
    free(ord);
    json_decref(root);
    return rc;
}
