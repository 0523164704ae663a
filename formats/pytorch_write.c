/* PyTorch writer: an OrderedDict state dict pickled with protocol 2 using only the globals of
 * torch's weights_only allow-list, one storage per tensor, in torch.save's zip layout
 * (archive/data.pkl, byteorder, data/<key>, version), records aligned to 64 bytes. */
#include "ferry/pytorch.h"
#include "zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (4u << 20)

struct buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void op(struct buf *b, uint8_t c)
{
    put(b, &c, 1);
}

static void global(struct buf *b, const char *mod, const char *name)
{
    op(b, 'c');
    put(b, mod, strlen(mod));
    op(b, '\n');
    put(b, name, strlen(name));
    op(b, '\n');
}

static void str(struct buf *b, const char *s)
{
    uint8_t l[4];
    uint32_t n = (uint32_t)strlen(s);
    for (int i = 0; i < 4; i++) l[i] = (uint8_t)(n >> (8 * i));
    op(b, 'X');
    put(b, l, 4);
    put(b, s, n);
}

static void integer(struct buf *b, uint64_t v)
{
    uint8_t x[9];
    if (v < 256) {
        x[0] = 'K', x[1] = (uint8_t)v;
        put(b, x, 2);
    } else if (v < 65536) {
        x[0] = 'M', x[1] = (uint8_t)v, x[2] = (uint8_t)(v >> 8);
        put(b, x, 3);
    } else if (v < 0x80000000u) {
        x[0] = 'J';
        for (int i = 0; i < 4; i++) x[1 + i] = (uint8_t)(v >> (8 * i));
        put(b, x, 5);
    } else { /* LONG1 with 8 bytes plus a zero byte keeps it positive */
        op(b, 0x8a);
        op(b, 9);
        for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
        x[8] = 0;
        put(b, x, 9);
    }
}

static void empty_odict(struct buf *b)
{
    global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
}

static void tensor(struct buf *b, const struct ferry_tensor *t, uint64_t key)
{
    char k[32];
    snprintf(k, sizeof(k), "%llu", (unsigned long long)key);
    str(b, t->name);
    global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    str(b, "storage");
    global(b, "torch", ferry_dtype_lookup(t->dtype)->torch);
    str(b, k);
    str(b, "cpu");
    integer(b, t->nelem);
    op(b, 't');
    op(b, 'Q');
    integer(b, 0);
    op(b, '(');
    for (uint32_t d = 0; d < t->ndim; d++) integer(b, t->shape[d]);
    op(b, 't');
    op(b, '(');
    uint64_t stride = 1, st[FERRY_MAX_DIMS];
    for (int d = (int)t->ndim - 1; d >= 0; d--) {
        st[d] = stride;
        stride *= t->shape[d];
    }
    for (uint32_t d = 0; d < t->ndim; d++) integer(b, st[d]);
    op(b, 't');
    op(b, 0x89);
    empty_odict(b);
    op(b, 't');
    op(b, 'R');
}

static int own_source(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                      struct ferry_error *err)
{
    const struct ferry_ckpt *ck = ctx;
    return ferry_tensor_read(ck, &ck->tensors[i], off, n, dst, err);
}

static int record(struct zip_writer *zw, const char *name, const void *p, size_t n,
                  struct ferry_error *err)
{
    int rc = zipw_begin(zw, name, n, err);
    if (!rc) rc = zipw_data(zw, p, n, err);
    if (!rc) rc = zipw_end(zw, err);
    return rc;
}

int ferry_pytorch_write(const struct ferry_ckpt *desc, const char *path, int force,
                        ferry_tensor_source src, void *ctx, struct ferry_error *err)
{
    for (uint64_t i = 0; i < desc->ntensors; i++)
        if (!ferry_dtype_lookup(desc->tensors[i].dtype)->torch)
            return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, desc->tensors[i].name,
                                   "dtype %s has no PyTorch storage type",
                                   ferry_dtype_name(desc->tensors[i].dtype));
    if (!src) {
        src = own_source;
        ctx = (void *)desc;
    }
    struct buf b = {0};
    op(&b, 0x80);
    op(&b, 2);
    empty_odict(&b);
    if (desc->ntensors) {
        op(&b, '(');
        for (uint64_t i = 0; i < desc->ntensors; i++) tensor(&b, &desc->tensors[i], i);
        op(&b, 'u');
    }
    op(&b, '.');
    if (b.oom) {
        free(b.p);
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    struct ferry_out out;
    struct zip_writer zw;
    uint8_t *chunk = NULL;
    int rc = ferry_out_open(&out, path, force, err);
    if (rc) {
        free(b.p);
        return rc;
    }
    zipw_init(&zw, &out, 64);
    if ((rc = record(&zw, "archive/data.pkl", b.p, b.n, err)) ||
        (rc = record(&zw, "archive/byteorder", "little", 6, err)))
        goto out;
    chunk = malloc(CHUNK);
    if (!chunk) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < desc->ntensors && !rc; i++) {
        const struct ferry_tensor *t = &desc->tensors[i];
        char name[64];
        snprintf(name, sizeof(name), "archive/data/%llu", (unsigned long long)i);
        if ((rc = zipw_begin(&zw, name, t->nbytes, err))) break;
        for (uint64_t o = 0; o < t->nbytes && !rc; o += CHUNK) {
            uint64_t n = t->nbytes - o < CHUNK ? t->nbytes - o : CHUNK;
            rc = src(ctx, i, o, n, chunk, err);
            if (!rc) rc = zipw_data(&zw, chunk, n, err);
        }
        ferry_error_object(err, t->name);
        if (!rc) rc = zipw_end(&zw, err);
    }
    if (!rc) rc = record(&zw, "archive/version", "3\n", 2, err);
    if (!rc) rc = zipw_finish(&zw, err);
    if (!rc) rc = ferry_out_commit(&out, err);
out:
    if (rc) ferry_out_abort(&out);
    zipw_free(&zw);
    free(chunk);
    free(b.p);
    return rc;
}
