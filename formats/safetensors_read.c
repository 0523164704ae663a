/* safetensors reader. Validation follows the reference Rust loader (reference/formats 4.3):
 * 8-byte header length up to 100 MB, UTF-8 JSON object, known dtypes, offsets that tile the
 * data buffer from 0 without gaps or overlap, sizes that match shapes, and no trailing bytes.
 * Duplicate JSON keys are rejected (the format forbids them). */
#include "ferry/safetensors.h"
#include "ferry/ckd.h"
#include "cursor.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    const char *name;
    json_t *obj;
    uint64_t begin, end;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int get_u64(json_t *j, uint64_t *v)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0) return -1;
    *v = (uint64_t)json_integer_value(j);
    return 0;
}

static int parse_entry(const char *path, struct entry *e, struct ferry_tensor *t,
                       struct ferry_error *err)
{
    json_t *dt = json_object_get(e->obj, "dtype");
    json_t *shape = json_object_get(e->obj, "shape");
    if (!json_is_string(dt))
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                               "missing or non-string \"dtype\"");
    t->dtype = ferry_dtype_from_safetensors(json_string_value(dt));
    if (t->dtype == FERRY_DT_INVALID)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                               "unknown dtype \"%s\"", json_string_value(dt));
    if (!json_is_array(shape) || json_array_size(shape) > FERRY_MAX_DIMS)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                               "\"shape\" must be an array of at most %d integers", FERRY_MAX_DIMS);
    t->ndim = (uint32_t)json_array_size(shape);
    for (uint32_t d = 0; d < t->ndim; d++)
        if (get_u64(json_array_get(shape, d), &t->shape[d]))
            return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                                   "shape entry %u is not a non-negative integer", d);
    if (ferry_shape_nelem(t->shape, t->ndim, &t->nelem))
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                               "element count overflows");
    uint64_t nbytes;
    if (ferry_dtype_nbytes(t->dtype, t->nelem, &nbytes))
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                               "%llu elements of %s do not fill whole bytes or overflow",
                               (unsigned long long)t->nelem, ferry_dtype_name(t->dtype));
    if (e->end - e->begin != nbytes)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                               "data_offsets span %llu bytes, shape and dtype need %llu",
                               (unsigned long long)(e->end - e->begin), (unsigned long long)nbytes);
    t->nbytes = nbytes;
    return 0;
}

static int read_metadata(struct ferry_ckpt *ck, const char *path, json_t *meta,
                         struct ferry_error *err)
{
    if (!json_is_object(meta))
        return ferry_error_set(err, FERRY_EMALFORMED, path, 8, "__metadata__",
                               "must be an object of strings");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v)
    {
        if (!json_is_string(v))
            return ferry_error_set(err, FERRY_EMALFORMED, path, 8, k,
                                   "__metadata__ values must be strings");
        if (ferry_ckpt_find_kv(ck, k)) continue; /* shards repeat the same metadata */
        struct ferry_kv *kv = ferry_ckpt_add_kv(ck, k, strlen(k));
        if (!kv || ferry_ckpt_kv_set_string(kv, json_string_value(v), json_string_length(v)))
            return ferry_error_set(err, FERRY_EINTERNAL, path, 8, k, "out of memory");
    }
    return 0;
}

int ferry_safetensors_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    uint32_t file;
    int rc = ferry_ckpt_add_file(ck, path, &file, err);
    if (rc) return rc;
    ck->format = "safetensors";
    const struct ferry_map *m = &ck->files[file];
    if (m->size < 8)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "header too small: file has %llu bytes, needs at least 8",
                               (unsigned long long)m->size);
    uint64_t n = rd_u64le(m->data);
    if (n > FERRY_ST_MAX_HEADER)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "header length %llu exceeds the 100 MB limit",
                               (unsigned long long)n);
    if (8 + n > m->size)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "header length %llu runs past the end of the %llu-byte file",
                               (unsigned long long)n, (unsigned long long)m->size);
    json_error_t je;
    json_t *root = json_loadb((const char *)m->data + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 8 + (uint64_t)je.position, NULL,
                               "header is not valid JSON: %s", je.text);
    struct entry *es = NULL;
    if (!json_is_object(root)) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, 8, NULL, "header is not a JSON object");
        goto out;
    }
    size_t cap = json_object_size(root), cnt = 0;
    es = calloc(cap ? cap : 1, sizeof(*es));
    if (!es) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, 8, NULL, "out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (strcmp(k, "__metadata__") == 0) {
            if ((rc = read_metadata(ck, path, v, err))) goto out;
            continue;
        }
        json_t *offs = json_object_get(v, "data_offsets");
        struct entry *e = &es[cnt++];
        e->name = k;
        e->obj = v;
        if (!json_is_object(v) || !json_is_array(offs) || json_array_size(offs) != 2 ||
            get_u64(json_array_get(offs, 0), &e->begin) ||
            get_u64(json_array_get(offs, 1), &e->end)) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, 8, k,
                                 "entry needs \"data_offsets\": [BEGIN, END]");
            goto out;
        }
    }
    qsort(es, cnt, sizeof(*es), cmp_entry);
    uint64_t start = 0, base = 8 + n;
    for (size_t i = 0; i < cnt; i++) {
        struct entry *e = &es[i];
        if (e->begin != start || e->end < e->begin) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, 8, e->name,
                                 "data_offsets [%llu, %llu] leave a gap or overlap (expected to "
                                 "start at %llu)",
                                 (unsigned long long)e->begin, (unsigned long long)e->end,
                                 (unsigned long long)start);
            goto out;
        }
        start = e->end;
        if (ferry_ckpt_find_tensor(ck, e->name)) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, 8, e->name,
                                 "tensor appears in more than one shard");
            goto out;
        }
        struct ferry_tensor *t = ferry_ckpt_add_tensor(ck, e->name, strlen(e->name));
        if (!t) {
            rc = ferry_error_set(err, FERRY_EINTERNAL, path, 8, NULL, "out of memory");
            goto out;
        }
        t->file = file;
        if ((rc = parse_entry(path, e, t, err))) goto out;
        t->offset = base + e->begin;
    }
    if (base + start != m->size) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, base + start, NULL,
                             "data buffer is %llu bytes but the file holds %llu after the header "
                             "(%s)",
                             (unsigned long long)start, (unsigned long long)(m->size - base),
                             base + start < m->size ? "trailing bytes" : "truncated");
        goto out;
    }
    for (uint64_t i = 0; i < ck->ntensors; i++)
        if (ck->tensors[i].file == file) ck->tensors[i].data = m->data + ck->tensors[i].offset;
out:
    free(es);
    json_decref(root);
    return rc;
}
