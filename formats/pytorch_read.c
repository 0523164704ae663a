/* PyTorch reader. Zip format: find the archive prefix from "<prefix>/data.pkl", honour the
 * byteorder record, and resolve each persistent id ('storage', class, key, location, numel)
 * to the stored entry "<prefix>/data/<key>" in place. Legacy format: a chain of pickles
 * followed by the raw storages (pytorch_legacy.c). */
#include "shard_index.h"
#include "ferry/pytorch.h"
#include "pickle.h"
#include "zip.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ferry_pytorch_read_legacy(struct ferry_ckpt *ck, uint32_t file, struct ferry_error *err);

struct zctx {
    const struct zip *z;
    struct ferry_ckpt *ck; /* its files grow as deflated records are inflated into memory */
    uint32_t file;
    const char *prefix;
    int byteswap;
};

/* A deflated record (torch.save stores them; other writers compress) inflated into memory that
 * ck owns; its index among ck's files in *idx. */
static int inflate_record(struct zctx *zc, const struct zip_entry *e, const uint8_t **data,
                          uint32_t *idx, struct ferry_error *err)
{
    const char *path = zc->ck->files[zc->file].path;
    int rc = zip_check_ratio(e, path, err);
    uint8_t *out = NULL;
    if (!rc) rc = ferry_ckpt_add_memory(zc->ck, e->name, e->size, &out, idx, err);
    const struct ferry_map *m = &zc->ck->files[zc->file];
    if (!rc) rc = zip_inflate(m->data, m->size, e, out, m->path, err);
    *data = out;
    return rc;
}

static int zip_load(struct pickle *pk, void *ctx, struct pk_obj *pid, struct pk_obj **out)
{
    struct zctx *zc = ctx;
    struct pk_obj **a = pid->u.seq.items;
    uint64_t at = pk->cur.pos;
    if (pid->u.seq.n != 5 || !a[1] || a[1]->kind != PK_DTYPE || !a[2] || a[2]->kind != PK_STR ||
        !a[4] || a[4]->kind != PK_INT || a[4]->u.i < 0)
        return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, at, NULL,
                               "malformed storage persistent id");
    const char *key = a[2]->u.str.s;
    char name[1024];
    snprintf(name, sizeof(name), "%sdata/%s", zc->prefix, key);
    const struct zip_entry *e = zip_find(zc->z, name);
    if (!e)
        return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, at, name,
                               "storage record missing from the archive");
    enum ferry_dtype dt = a[1]->u.dtype;
    uint64_t numel = (uint64_t)a[4]->u.i, need;
    if (__builtin_mul_overflow(numel, (uint64_t)ferry_dtype_elem_size(dt), &need) || need > e->size)
        return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, e->data_off, name,
                               "storage of %llu %s elements needs %llu bytes, record has %llu",
                               (unsigned long long)numel, ferry_dtype_name(dt),
                               (unsigned long long)need, (unsigned long long)e->size);
    struct pk_obj *s = pk_new(pk, PK_STORAGE);
    if (!s || !(s->u.storage.key = strdup(key)))
        return ferry_error_set(pk->cur.err, FERRY_EINTERNAL, pk->cur.path, at, NULL, "oom");
    s->u.storage.dtype = dt;
    s->u.storage.numel = numel;
    s->u.storage.file = -1;
    s->u.storage.data = zc->ck->files[zc->file].data + e->data_off;
    s->u.storage.file_offset = e->data_off;
    s->u.storage.byteswap = zc->byteswap;
    if (e->method != 0) {
        uint32_t idx;
        int rc = inflate_record(zc, e, &s->u.storage.data, &idx, pk->cur.err);
        if (rc) return rc;
        s->u.storage.file = (int32_t)idx, s->u.storage.file_offset = 0;
    }
    *out = s;
    return 0;
}

static int read_zip(struct ferry_ckpt *ck, uint32_t file, struct ferry_error *err)
{
    const struct ferry_map *m = &ck->files[file];
    struct zip z;
    int rc = zip_open(&z, m->data, m->size, m->path, err);
    if (rc) return rc;
    const struct zip_entry *pkl = NULL;
    char prefix[512] = "";
    for (size_t i = 0; i < z.n && !pkl; i++) {
        const char *n = z.e[i].name;
        size_t l = strlen(n);
        if (l >= 8 && strcmp(n + l - 8, "data.pkl") == 0 && (l == 8 || n[l - 9] == '/') &&
            l - 8 < sizeof(prefix)) {
            pkl = &z.e[i];
            memcpy(prefix, n, l - 8);
            prefix[l - 8] = 0;
        }
    }
    struct pickle pk;
    pk_init(&pk, m->data, 0, 0, m->path, err);
    if (!pkl) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, m->path, FERRY_NO_OFFSET, NULL,
                             "zip archive has no data.pkl (not a torch.save file)");
        goto out;
    }
    struct zctx zc = {&z, ck, file, prefix, 0};
    const uint8_t *pdata = m->data;
    uint64_t poff = pkl->data_off;
    if (pkl->method != 0) { /* a compressed pickle is inflated once, into memory ck owns */
        uint32_t idx;
        if ((rc = inflate_record(&zc, pkl, &pdata, &idx, err))) goto out;
        poff = 0;
        m = &ck->files[file];
    }
    char bo[600];
    snprintf(bo, sizeof(bo), "%sbyteorder", prefix);
    const struct zip_entry *be = zip_find(&z, bo);
    if (be) {
        const char *v = (const char *)m->data + be->data_off;
        if (be->method == 0 && be->size == 3 && memcmp(v, "big", 3) == 0)
            zc.byteswap = 1;
        else if (!(be->method == 0 && be->size == 6 && memcmp(v, "little", 6) == 0)) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, m->path, be->data_off, be->name,
                                 "byteorder must be 'little' or 'big'");
            goto out;
        }
    }
    pk_init(&pk, pdata, poff, poff + pkl->size, m->path, err);
    pk.load = zip_load;
    pk.load_ctx = &zc;
    struct pk_obj *root;
    if ((rc = pk_run(&pk, &root))) goto out;
    rc = pk_collect_tensors(&pk, root, ck, file);
out:
    pk_free(&pk);
    zip_free(&z);
    return rc;
}

int ferry_pytorch_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    uint32_t file;
    int rc = ferry_ckpt_add_file(ck, path, &file, err);
    if (rc) return rc;
    ck->format = "pytorch";
    const struct ferry_map *m = &ck->files[file];
    if (m->size >= 4 && memcmp(m->data, "PK\x03\x04", 4) == 0) return read_zip(ck, file, err);
    return ferry_pytorch_read_legacy(ck, file, err);
}

int ferry_pytorch_read_index(struct ferry_ckpt *ck, const char *index_path, struct ferry_error *err)
{
    return shard_index_read(ck, index_path, ferry_pytorch_read, err);
}
