/* Turns the object tree of an unpickled checkpoint into ferry tensors: walks dicts, lists and
 * tuples, names tensors by their path, and checks every view against its storage. */
#include "pickle.h"
#include "ferry/ckd.h"
#include "strset.h"

#include <stdio.h>
#include <string.h>

static int add_tensor(struct pickle *pk, const struct pk_tensor *pt, const char *name,
                      struct ferry_ckpt *ck, uint32_t file, struct strset *names)
{
    struct ferry_error *err = pk->cur.err;
    const char *path = pk->cur.path;
    const struct pk_storage *st = &pt->storage->u.storage;
    uint32_t es = ferry_dtype_elem_size(pt->dtype), ses = ferry_dtype_elem_size(st->dtype);
    if (!es || !ses)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, name,
                               "unsupported tensor dtype %s", ferry_dtype_name(pt->dtype));
    struct ferry_tensor *t = ferry_ckpt_add_tensor(ck, name, strlen(name));
    if (!t) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, name, "oom");
    /* the set borrows the tensor's own copy of its name */
    int added = strset_add(names, t->name, strlen(t->name));
    if (added < 0) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, name, "oom");
    if (!added)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, name,
                               "tensor name appears twice");
    t->file = st->file >= 0 ? (uint32_t)st->file : file;
    t->dtype = pt->dtype;
    t->ndim = pt->ndim;
    memcpy(t->shape, pt->shape, sizeof(t->shape));
    memcpy(t->strides, pt->stride, sizeof(t->strides));
    uint64_t st_bytes, off, last = 0;
    if (ferry_shape_nelem(t->shape, t->ndim, &t->nelem) || ckd_mul_u64(&t->nbytes, t->nelem, es) ||
        ckd_mul_u64(&st_bytes, st->numel, ses) || ckd_add_u64(&off, pt->offset, st->view_offset))
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, name,
                               "size overflows");
    /* highest element index the view touches must lie inside the storage */
    int contiguous = 1;
    uint64_t expect = 1;
    for (int d = (int)t->ndim - 1; d >= 0; d--) {
        uint64_t span;
        if (t->shape[d] == 0) break;
        if (ckd_mul_u64(&span, t->shape[d] - 1, (uint64_t)t->strides[d]) ||
            ckd_add_u64(&last, last, span))
            return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, name,
                                   "stride overflows");
        if (t->shape[d] != 1 && (uint64_t)t->strides[d] != expect) contiguous = 0;
        expect *= t->shape[d];
    }
    uint64_t end_b, off_b;
    if (t->nelem && (ckd_add_u64(&last, last, off) || ckd_add_u64(&last, last, 1) ||
                     ckd_mul_u64(&end_b, last, es) || end_b > st_bytes))
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, name,
                               "view (offset %llu, shape and strides) runs past its storage '%s' "
                               "of %llu bytes",
                               (unsigned long long)off, st->key, (unsigned long long)st_bytes);
    if (ckd_mul_u64(&off_b, off, es) || (t->nelem == 0 && off_b > st_bytes)) off_b = 0;
    t->contiguous = contiguous;
    t->byteswap = st->byteswap && es > 1;
    t->offset = st->file_offset + off_b;
    t->data = st->data ? st->data + off_b : NULL;
    return 0;
}

/* Walking is path by path, so a tensor or dict reached by two paths gets both names, as torch
 * would show them (tied weights). Shared references can make the number of paths grow as 2^depth
 * from a tiny file, so the steps taken are counted against a budget proportional to the
 * objects the pickle made. */
#define WALK_DEPTH            64
#define WALK_STEPS_PER_OBJECT 8
#define WALK_STEPS_MIN        (1u << 20)

struct walk {
    struct pickle *pk;
    struct ferry_ckpt *ck;
    uint32_t file;
    uint64_t steps, budget;
    struct strset names; /* tensor names so far, in ck from earlier shards too */
};

static int walk(struct walk *w, struct pk_obj *o, char *name, size_t len, int depth)
{
    struct pickle *pk = w->pk;
    if (depth > WALK_DEPTH)
        return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, FERRY_NO_OFFSET, name,
                               "containers nested more than %d deep", WALK_DEPTH);
    if (++w->steps > w->budget)
        return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, FERRY_NO_OFFSET, NULL,
                               "shared references make the object tree too large to walk (more "
                               "than %llu steps for %llu objects)",
                               (unsigned long long)w->budget, (unsigned long long)pk->nobjs);
    struct ferry_ckpt *ck = w->ck;
    uint32_t file = w->file;
    if (o->kind == PK_TENSOR)
        return add_tensor(pk, &o->u.tensor, len ? name : "tensor", ck, file, &w->names);
    int is_dict = o->kind == PK_DICT;
    if (!is_dict && o->kind != PK_LIST && o->kind != PK_TUPLE) return 0; /* scalars: not tensors */
    size_t step = is_dict ? 2 : 1;
    for (size_t i = 0; i + step - 1 < o->u.seq.n; i += step) {
        struct pk_obj *k = is_dict ? o->u.seq.items[i] : NULL;
        struct pk_obj *v = o->u.seq.items[i + step - 1];
        char part[64];
        const char *ps = part;
        size_t pl;
        if (k && k->kind == PK_STR) {
            ps = k->u.str.s;
            pl = k->u.str.len;
        } else if (k && k->kind == PK_INT) {
            pl = (size_t)snprintf(part, sizeof(part), "%lld", (long long)k->u.i);
        } else if (!k) {
            pl = (size_t)snprintf(part, sizeof(part), "%zu", i);
        } else {
            continue; /* other key types cannot name a tensor */
        }
        size_t nl = len + (len ? 1 : 0) + pl;
        if (nl >= 4096)
            return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, FERRY_NO_OFFSET,
                                   NULL, "tensor name longer than 4096 bytes");
        if (len) name[len] = '.';
        memcpy(name + len + (len ? 1 : 0), ps, pl);
        name[nl] = 0;
        int rc = walk(w, v, name, nl, depth + 1);
        name[len] = 0;
        if (rc) return rc;
    }
    return 0;
}

int pk_collect_tensors(struct pickle *pk, struct pk_obj *root, struct ferry_ckpt *ck, uint32_t file)
{
    char name[4096];
    name[0] = 0;
    struct walk w = {pk, ck, file, 0, WALK_STEPS_MIN, {0}};
    if (pk->nobjs < (UINT64_MAX - WALK_STEPS_MIN) / WALK_STEPS_PER_OBJECT)
        w.budget += pk->nobjs * WALK_STEPS_PER_OBJECT;
    strset_init(&w.names);
    int rc = 0;
    for (uint64_t i = 0; !rc && i < ck->ntensors; i++)
        if (strset_add(&w.names, ck->tensors[i].name, strlen(ck->tensors[i].name)) < 0)
            rc = ferry_error_set(pk->cur.err, FERRY_EINTERNAL, pk->cur.path, FERRY_NO_OFFSET, NULL,
                                 "oom");
    if (!rc) rc = walk(&w, root, name, 0, 0);
    strset_free(&w.names);
    return rc;
}
