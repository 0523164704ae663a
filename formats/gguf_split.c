/* Split GGUF output as llama.cpp's gguf-split writes it: NAME-0000k-of-0000n.gguf, all metadata
 * in the first shard, split.no (uint16, from 0), split.count (uint16) and split.tensors.count
 * (int32) in every shard, tensors assigned in order while a shard stays under the limit.
 * With resume, a shard already on disk whose layout (keys, tensor names, types, shapes and
 * size) is the one it would get is kept instead of rewritten. */
#include "ferry/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct shard_src {
    ferry_tensor_source src;
    void *ctx;
    uint64_t base;
    int (*hook)(void *hook_ctx, struct ferry_out *out, struct ferry_error *err);
    void *hook_ctx;
};

static int shifted(void *c, uint64_t i, uint64_t off, uint64_t n, void *dst,
                   struct ferry_error *err)
{
    struct shard_src *s = c;
    return s->src(s->ctx, s->base + i, off, n, dst, err);
}

static int trampoline(void *c, struct ferry_out *out, struct ferry_error *err)
{
    struct shard_src *s = c;
    return s->hook ? s->hook(s->hook_ctx, out, err) : 0;
}

static uint64_t padded(uint64_t n, uint32_t a)
{
    return (n + a - 1) / a * a;
}

/* 1 when the file at path already is this shard (same keys and tensor layout, complete). */
static int same_layout(const char *path, const struct ferry_ckpt *sd)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    struct ferry_ckpt ck;
    struct ferry_error e;
    ferry_ckpt_init(&ck);
    ferry_error_clear(&e);
    /* read this file alone: the split keys would make the reader open the whole set */
    int ok = ferry_gguf_read_one(&ck, path, &e) == 0 && ck.nkvs == sd->nkvs &&
             ck.ntensors == sd->ntensors;
    for (uint64_t i = 0; ok && i < sd->nkvs; i++)
        ok = !strcmp(ck.kvs[i].key, sd->kvs[i].key) && ck.kvs[i].val.type == sd->kvs[i].val.type;
    for (uint64_t i = 0; ok && i < sd->ntensors; i++)
        ok = !strcmp(ck.tensors[i].name, sd->tensors[i].name) &&
             ck.tensors[i].dtype == sd->tensors[i].dtype &&
             ck.tensors[i].ndim == sd->tensors[i].ndim &&
             !memcmp(ck.tensors[i].shape, sd->tensors[i].shape,
                     sizeof(uint64_t) * sd->tensors[i].ndim);
    ferry_ckpt_free(&ck);
    return ok;
}

int ferry_gguf_write_split(const struct ferry_ckpt *desc, const char *path, uint64_t max_bytes,
                           int force, int resume, ferry_tensor_source src, void *ctx,
                           int (*first_hook)(void *hook_ctx, struct ferry_out *out,
                                             struct ferry_error *err),
                           void *hook_ctx, uint32_t *nshards_out, struct ferry_error *err)
{
    uint32_t align = FERRY_GGUF_DEFAULT_ALIGNMENT;
    const struct ferry_kv *akv = ferry_ckpt_find_kv(desc, "general.alignment");
    if (akv && akv->val.type == FERRY_V_U32 && akv->val.v.u) align = (uint32_t)akv->val.v.u;
    /* shard boundaries: first tensor index of each shard */
    uint64_t *first = calloc(desc->ntensors + 2, sizeof(uint64_t)), cur = 0;
    uint32_t n = 0;
    if (!first) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    for (uint64_t i = 0; i < desc->ntensors; i++) {
        uint64_t sz = padded(desc->tensors[i].nbytes, align) + 96 + strlen(desc->tensors[i].name);
        if (i == 0 || (cur + sz > max_bytes && cur > 0)) {
            first[n++] = i;
            cur = 0;
        }
        cur += sz;
    }
    if (n == 0) first[n++] = 0;
    first[n] = desc->ntensors;
    if (n > 65535) {
        free(first);
        return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                               "%u shards exceed GGUF's uint16 split.count", n);
    }
    if (nshards_out) *nshards_out = n;
    if (n == 1) { /* fits: an ordinary file */
        struct shard_src s = {src, ctx, 0, first_hook, hook_ctx};
        int rc = resume && same_layout(path, desc)
                     ? 0
                     : ferry_gguf_write_hooked(desc, path, force || resume, shifted, &s, trampoline,
                                               err);
        free(first);
        return rc;
    }
    char prefix[4096];
    snprintf(prefix, sizeof(prefix), "%s", path);
    size_t pl = strlen(prefix);
    if (pl > 5 && !strcmp(prefix + pl - 5, ".gguf")) prefix[pl - 5] = 0;
    int rc = 0;
    for (uint32_t k = 0; k < n && !rc; k++) {
        struct ferry_ckpt sd;
        ferry_ckpt_init(&sd);
        uint64_t base_kvs = k == 0 ? desc->nkvs : 0;
        sd.kvs = calloc(base_kvs + 3, sizeof(*sd.kvs));
        if (!sd.kvs) {
            rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
            break;
        }
        if (base_kvs) memcpy(sd.kvs, desc->kvs, base_kvs * sizeof(*sd.kvs)); /* borrowed */
        static const char *keys[3] = {"split.no", "split.count", "split.tensors.count"};
        enum ferry_vtype kt[3] = {FERRY_V_U16, FERRY_V_U16, FERRY_V_I32};
        uint64_t kvv[3] = {k, n, desc->ntensors};
        for (int q = 0; q < 3; q++) {
            struct ferry_kv *kv = &sd.kvs[base_kvs + (uint64_t)q];
            kv->key = (char *)keys[q];
            kv->val.type = kt[q];
            kv->val.v.u = kvv[q];
        }
        sd.nkvs = base_kvs + 3;
        sd.tensors = desc->tensors + first[k]; /* borrowed */
        sd.ntensors = first[k + 1] - first[k];
        char name[4200];
        snprintf(name, sizeof(name), "%s-%05u-of-%05u.gguf", prefix, k + 1, n);
        struct shard_src s = {src, ctx, first[k], k == 0 ? first_hook : NULL, hook_ctx};
        if (!(resume && same_layout(name, &sd)))
            rc = ferry_gguf_write_hooked(&sd, name, force || resume, shifted, &s, trampoline, err);
        else if (k == 0 && first_hook) /* the digest job still has to end */
            first_hook(hook_ctx, NULL, err);
        free(sd.kvs);
    }
    free(first);
    return rc;
}
