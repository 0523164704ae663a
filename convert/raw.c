/* Raw conversion: a tensor dictionary moved between containers without model semantics.
 * The output description borrows the source's tensors, so data streams straight from the
 * source mapping (strided PyTorch views are gathered on the way). */
#include "ferry/convert.h"
#include "ferry/gguf.h"
#include "ferry/pytorch.h"
#include "ferry/safetensors.h"

#include <stdlib.h>
#include <string.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

enum ferry_container ferry_container_from_name(const char *name)
{
    if (!strcmp(name, "gguf")) return FERRY_FMT_GGUF;
    if (!strcmp(name, "safetensors")) return FERRY_FMT_SAFETENSORS;
    if (!strcmp(name, "pytorch") || !strcmp(name, "pt")) return FERRY_FMT_PYTORCH;
    if (!strcmp(name, "meta")) return FERRY_FMT_META;
    return FERRY_FMT_NONE;
}

enum ferry_container ferry_container_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot) return FERRY_FMT_NONE;
    if (!strcmp(dot, ".gguf")) return FERRY_FMT_GGUF;
    if (!strcmp(dot, ".safetensors")) return FERRY_FMT_SAFETENSORS;
    if (!strcmp(dot, ".pt") || !strcmp(dot, ".pth") || !strcmp(dot, ".bin"))
        return FERRY_FMT_PYTORCH;
    return FERRY_FMT_NONE;
}

static int copy_value(struct ferry_value *d, const struct ferry_value *s)
{
    *d = *s;
    d->arr = NULL;
    if (s->type == FERRY_V_STRING) {
        d->v.str.s = malloc((size_t)s->v.str.len + 1);
        if (!d->v.str.s) return -1;
        memcpy(d->v.str.s, s->v.str.s, (size_t)s->v.str.len + 1);
    }
    if (s->type != FERRY_V_ARRAY) return 0;
    if (s->elem_type == FERRY_V_STRING) {
        const struct ferry_str *ss = s->arr;
        struct ferry_str *ds = calloc(s->count ? (size_t)s->count : 1, sizeof(*ds));
        if (!ds) return -1;
        d->arr = ds;
        for (uint64_t i = 0; i < s->count; i++) {
            ds[i].s = malloc((size_t)ss[i].len + 1);
            if (!ds[i].s) {
                d->count = i;
                return -1;
            }
            memcpy(ds[i].s, ss[i].s, (size_t)ss[i].len + 1);
            ds[i].len = ss[i].len;
        }
        return 0;
    }
    size_t n = (size_t)s->count * ferry_vtype_size(s->elem_type);
    d->arr = malloc(n ? n : 1);
    if (!d->arr) return -1;
    memcpy(d->arr, s->arr, n);
    return 0;
}

static int add_string(struct ferry_ckpt *d, const char *key, const char *val)
{
    struct ferry_kv *kv = ferry_ckpt_add_kv(d, key, strlen(key));
    return kv ? ferry_ckpt_kv_set_string(kv, val, strlen(val)) : -1;
}

int ferry_convert_raw(const struct ferry_ckpt *src, const char *dst, enum ferry_container to,
                      int force, struct ferry_error *err)
{
    struct ferry_ckpt desc;
    ferry_ckpt_init(&desc);
    int rc = 0;
    for (uint64_t i = 0; i < src->nkvs; i++) {
        const struct ferry_kv *kv = &src->kvs[i];
        if (!strncmp(kv->key, "split.", 6) || !strncmp(kv->key, "ferry.", 6)) continue;
        struct ferry_kv *d = ferry_ckpt_add_kv(&desc, kv->key, strlen(kv->key));
        if (!d || copy_value(&d->val, &kv->val)) {
            rc = ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "out of memory");
            goto out;
        }
    }
    if (add_string(&desc, "ferry.version", FERRY_VERSION) ||
        add_string(&desc, "ferry.source.format", src->format) ||
        add_string(&desc, "ferry.convert.options", "--raw")) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, dst, FERRY_NO_OFFSET, NULL, "out of memory");
        goto out;
    }
    /* borrow the source tensors: the writers read them through ferry_tensor_read */
    desc.tensors = src->tensors;
    desc.ntensors = src->ntensors;
    switch (to) {
    case FERRY_FMT_GGUF: rc = ferry_gguf_write(&desc, dst, force, NULL, NULL, err); break;
    case FERRY_FMT_SAFETENSORS:
        rc = ferry_safetensors_write(&desc, dst, force, NULL, NULL, err);
        break;
    case FERRY_FMT_PYTORCH: rc = ferry_pytorch_write(&desc, dst, force, NULL, NULL, err); break;
    default:
        rc =
            ferry_error_set(err, FERRY_EUSAGE, dst, FERRY_NO_OFFSET, NULL, "unknown output format");
    }
    desc.tensors = NULL;
    desc.ntensors = 0;
out:
    ferry_ckpt_free(&desc);
    return rc;
}
