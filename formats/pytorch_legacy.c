/* Legacy (pre-1.6) torch.save format: pickles of the magic number, protocol version 1001 and
 * sys_info, then the object pickle (persistent ids carry the storage key and an optional view),
 * the pickled list of storage keys, and for each key an int64 element count and raw data. */
#include "ferry/ckd.h"
#include "ferry/pytorch.h"
#include "pickle.h"

#include <stdlib.h>
#include <string.h>

int ferry_pytorch_read_legacy(struct ferry_ckpt *ck, uint32_t file, struct ferry_error *err);

static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

struct lctx {
    struct pk_obj **st;
    size_t n, cap;
};

static int legacy_load(struct pickle *pk, void *ctx, struct pk_obj *pid, struct pk_obj **out)
{
    struct lctx *lc = ctx;
    struct pk_obj **a = pid->u.seq.items;
    uint64_t at = pk->cur.pos;
    if (pid->u.seq.n != 6 || !a[1] || a[1]->kind != PK_DTYPE || !a[2] || a[2]->kind != PK_STR ||
        !a[4] || a[4]->kind != PK_INT || a[4]->u.i < 0)
        return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, at, NULL,
                               "malformed legacy storage persistent id");
    struct pk_obj *s = pk_new(pk, PK_STORAGE);
    if (s) s->u.storage.file = -1;
    if (!s || !(s->u.storage.key = strdup(a[2]->u.str.s))) goto oom;
    s->u.storage.dtype = a[1]->u.dtype;
    s->u.storage.numel = (uint64_t)a[4]->u.i;
    struct pk_obj *view = a[5];
    if (view && view->kind == PK_TUPLE) {
        if (view->u.seq.n != 3 || view->u.seq.items[1]->kind != PK_INT ||
            view->u.seq.items[1]->u.i < 0)
            return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, at, NULL,
                                   "malformed storage view");
        s->u.storage.view_offset = (uint64_t)view->u.seq.items[1]->u.i;
    }
    if (lc->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 16;
        void *p = realloc(lc->st, cap * sizeof(*lc->st));
        if (!p) goto oom;
        lc->st = p;
        lc->cap = cap;
    }
    lc->st[lc->n++] = s;
    *out = s;
    return 0;
oom:
    return ferry_error_set(pk->cur.err, FERRY_EINTERNAL, pk->cur.path, at, NULL, "oom");
}

static void reset_memo(struct pickle *pk)
{
    if (pk->memo) memset(pk->memo, 0, pk->memo_cap * sizeof(*pk->memo));
    pk->memo_n = 0;
}

int ferry_pytorch_read_legacy(struct ferry_ckpt *ck, uint32_t file, struct ferry_error *err)
{
    const struct ferry_map *m = &ck->files[file];
    const char *path = m->path;
    if (m->size < 2 || m->data[0] != 0x80)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "not a PyTorch checkpoint (neither a zip archive nor a pickle)");
    struct pickle pk;
    struct lctx lc = {0};
    pk_init(&pk, m->data, 0, m->size, path, err);
    pk.load = legacy_load;
    pk.load_ctx = &lc;
    struct pk_obj *mg, *ver, *info, *root, *keys;
    int rc = pk_run(&pk, &mg);
    if (!rc && (mg->kind != PK_BIGINT || mg->u.str.len != 10 || memcmp(mg->u.str.s, magic, 10)))
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                             "pickle is not a PyTorch checkpoint (magic number missing)");
    if (!rc) reset_memo(&pk), rc = pk_run(&pk, &ver);
    if (!rc && (ver->kind != PK_INT || ver->u.i != 1001))
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, pk.cur.pos, NULL,
                             "unsupported legacy protocol version");
    if (!rc) reset_memo(&pk), rc = pk_run(&pk, &info);
    int big = 0;
    if (!rc && info->kind == PK_DICT)
        for (size_t i = 0; i + 1 < info->u.seq.n; i += 2) {
            struct pk_obj *k = info->u.seq.items[i], *v = info->u.seq.items[i + 1];
            if (k->kind == PK_STR && strcmp(k->u.str.s, "little_endian") == 0 && v->kind == PK_BOOL)
                big = !v->u.i;
        }
    if (!rc) reset_memo(&pk), rc = pk_run(&pk, &root);
    if (!rc) reset_memo(&pk), rc = pk_run(&pk, &keys);
    if (!rc && keys->kind != PK_LIST)
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, pk.cur.pos, NULL,
                             "storage key list missing");
    uint64_t pos = pk.cur.pos;
    for (size_t i = 0; !rc && i < keys->u.seq.n; i++) {
        struct pk_obj *k = keys->u.seq.items[i];
        if (k->kind != PK_STR) {
            rc =
                ferry_error_set(err, FERRY_EMALFORMED, path, pos, NULL, "storage key not a string");
            break;
        }
        struct pk_obj *first = NULL;
        for (size_t j = 0; j < lc.n && !first; j++)
            if (strcmp(lc.st[j]->u.storage.key, k->u.str.s) == 0) first = lc.st[j];
        uint64_t numel, nb;
        if (m->size - pos < 8) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, pos, k->u.str.s,
                                 "truncated before storage size");
            break;
        }
        memcpy(&numel, m->data + pos, 8);
        pos += 8;
        uint32_t es = first ? ferry_dtype_elem_size(first->u.storage.dtype) : 1;
        if (ckd_mul_u64(&nb, numel, es) || nb > m->size - pos) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, pos - 8, k->u.str.s,
                                 "storage of %llu elements runs past the end of the file",
                                 (unsigned long long)numel);
            break;
        }
        for (size_t j = 0; j < lc.n; j++) {
            struct pk_storage *s = &lc.st[j]->u.storage;
            if (strcmp(s->key, k->u.str.s) != 0) continue;
            s->data = m->data + pos;
            s->file_offset = pos;
            s->byteswap = big;
            s->numel = numel; /* the root storage's real size bounds every view */
            if (ferry_dtype_elem_size(s->dtype) != es) {
                rc = ferry_error_set(err, FERRY_EMALFORMED, path, pos, s->key,
                                     "storage used with two element sizes");
                break;
            }
        }
        pos += nb;
    }
    for (size_t j = 0; !rc && j < lc.n; j++)
        if (!lc.st[j]->u.storage.data && lc.st[j]->u.storage.numel)
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET,
                                 lc.st[j]->u.storage.key, "storage has no data in the file");
    if (!rc) rc = pk_collect_tensors(&pk, root, ck, file);
    free(lc.st);
    pk_free(&pk);
    return rc;
}
