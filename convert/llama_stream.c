/* Row conversion for the writers (see llama_stream.h). */
#define _GNU_SOURCE
#include "ferry/pool.h"
#include "llama_stream.h"
#include "ferry/quant.h"

#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct slice {
    const struct ferry_llama *m;
    const struct ferry_plan_tensor *p;
    enum ferry_dtype out;
    uint64_t r0, r1, rb; /* rows [r0, r1) into dst, rb bytes per output row */
    uint8_t *dst;
    const float *w; /* importance weights per column, or NULL */
    struct ferry_error err;
    int rc;
};

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/* The common case, one contiguous source tensor: every source row the slice needs (permuted
 * rows stay within their head), read in place from the mapping after asking the kernel to map
 * the whole range at once (no copy, no fault per page), or with one pread into a buffer
 * (*owned) where that is refused. NULL: use llama_read_row. */
static const uint8_t *read_block(struct slice *s, uint64_t *first, uint64_t *srb, uint8_t **owned)
{
    const struct ferry_plan_tensor *p = s->p;
    *owned = NULL;
    if (p->generated || p->nparts != 1 || !p->parts[0].map || p->row_scale) return NULL;
    const struct ferry_tensor *t = p->parts[0].t;
    if (!t->contiguous || t->byteswap || t->ndim < 1) return NULL;
    const struct ferry_dtype_info *di = ferry_dtype_lookup(t->dtype);
    if (t->shape[t->ndim - 1] != p->cols) return NULL; /* a column-concatenated view */
    /* rows of the source tensor; llama2.c stacks layers, so a layer starts at row0 */
    uint64_t rb = p->cols / di->blck * di->bsize, a = s->r0, b = s->r1, base = p->parts[0].row0;
    if (p->perm != FERRY_PERM_NONE) {
        uint64_t hd = p->rows / p->perm_heads;
        a = a / hd * hd;
        b = (b + hd - 1) / hd * hd;
    }
    const struct ferry_map *map = p->parts[0].map;
    uint64_t off = t->offset + (base + a) * rb, len = (b - a) * rb, got = 0;
    *first = a;
    *srb = rb;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (map->data && off + len <= map->size) {
        uintptr_t at = (uintptr_t)(map->data + off),
                  lo = at / page * page; /* page of the mapping */
        if (madvise((void *)lo, (size_t)(at + len - lo), MADV_POPULATE_READ) == 0)
            return map->data + off;
    }
    uint8_t *buf = malloc(len);
    if (!buf) return NULL;
    while (got < len) {
        ssize_t r =
            pread(map->fd, buf + got, (size_t)(len - got), (off_t)(map->file_offset + off + got));
        if (r <= 0) {
            free(buf);
            return NULL; /* fall back to the mapping, which reports errors properly */
        }
        got += (uint64_t)r;
    }
    return *owned = buf;
}

static void *convert_rows(void *arg);

/* ferry_parallel task: thread i converts slice i */
static void convert_slice(void *ctx, unsigned i, unsigned n)
{
    (void)n;
    convert_rows((struct slice *)ctx + i);
}

static void *convert_rows(void *arg)
{
    struct slice *s = arg;
    float *row = malloc(s->p->cols * sizeof(float));
    uint8_t *scratch = malloc(ferry_llama_source_row_bytes(s->p) + 1);
    uint64_t first = 0, srb = 0;
    uint8_t *owned;
    const uint8_t *block = read_block(s, &first, &srb, &owned);
    const struct ferry_plan_tensor *p = s->p;
    ferry_error_clear(&s->err);
    if (!row || !scratch)
        s->rc = ferry_error_set(&s->err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, s->p->name, "oom");
    for (uint64_t r = s->r0; !s->rc && r < s->r1; r++) {
        const float *in = row;
        if (block) {
            uint64_t src = r;
            if (p->perm != FERRY_PERM_NONE) {
                uint64_t hd = p->rows / p->perm_heads, half = hd / 2, h = r / hd, w = r % hd;
                src = p->perm == FERRY_PERM_HF_TO_GGUF ? h * hd + (w % 2) * half + w / 2
                                                       : h * hd + (w % half) * 2 + w / half;
            }
            if (p->parts[0].t->dtype == s->out) { /* the same type: the bytes, as llama-quantize
                                                   * copies a tensor it does not convert */
                memcpy(s->dst + (r - s->r0) * s->rb, block + (src - first) * srb, s->rb);
                continue;
            }
            const uint8_t *from = block + (src - first) * srb;
            if (p->parts[0].t->dtype == FERRY_DT_F32 && (uintptr_t)from % sizeof(float) == 0) {
                in = (const float *)(const void *)from; /* floats already: no copy */
            } else if (ferry_to_float(p->parts[0].t->dtype, from, row, p->cols))
                s->rc =
                    ferry_error_set(&s->err, FERRY_EMALFORMED, NULL, FERRY_NO_OFFSET, p->name,
                                    "cannot read dtype %s", ferry_dtype_name(p->parts[0].t->dtype));
        } else
            s->rc = ferry_llama_read_row(s->m, s->p, r, row, scratch, &s->err);
        if (!s->rc &&
            ferry_from_float_weighted(s->out, in, s->dst + (r - s->r0) * s->rb, s->p->cols, s->w))
            s->rc = ferry_error_set(&s->err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, s->p->name,
                                    "cannot write %s", ferry_dtype_name(s->out));
    }
    free(row);
    free(scratch);
    free(owned);
    return NULL;
}

/* Writer callback: bytes [off, off+n) of output tensor i, converting the rows that cover them
 * in parallel (a row cut by the chunk edge is converted by both neighbouring chunks). */
int llama_stream_source(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                        struct ferry_error *err)
{
    struct llama_stream *j = ctx;
    const struct ferry_plan_tensor *p = j->plans[i];
    if (j->cancel && *j->cancel)
        return ferry_error_set(err, FERRY_EINTR, NULL, FERRY_NO_OFFSET, NULL,
                               "interrupted; nothing was left behind, run the command again");
    enum ferry_dtype out = j->desc->tensors[i].dtype;
    const struct ferry_dtype_info *d = ferry_dtype_lookup(out);
    uint64_t rb = p->cols / d->blck * d->bsize, r0 = off / rb, r1 = (off + n + rb - 1) / rb;
    /* whole rows go straight into dst; a chunk that cuts a row is staged */
    int whole = off % rb == 0 && n % rb == 0;
    uint8_t *stage = whole ? dst : malloc((r1 - r0) * rb);
    if (!stage) return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, p->name, "oom");
    unsigned t = j->threads;
    if (t > r1 - r0) t = (unsigned)(r1 - r0);
    if (t < 1) t = 1;
    struct slice sl[64];
    for (unsigned k = 0; k < t; k++) {
        uint64_t a = r0 + (r1 - r0) * k / t, b = r0 + (r1 - r0) * (k + 1) / t;
        sl[k] = (struct slice){
            j->m, p, out, a, b, rb, stage + (a - r0) * rb, j->weights ? j->weights[i] : NULL,
            {0},  0};
    }
    ferry_parallel(t, convert_slice, sl);
    int rc = 0;
    for (unsigned k = 0; k < t && !rc; k++)
        if (sl[k].rc) {
            if (err) *err = sl[k].err;
            rc = sl[k].rc;
        }
    if (!whole) {
        if (!rc) memcpy(dst, stage + (off - r0 * rb), n);
        free(stage);
    }
    /* the source rows are consumed: keep the resident set bounded whatever the model size
     * (permuted rows stay within a head, so at most a head's rows are read again) */
    for (uint32_t k = 0; !rc && k < p->nparts; k++) {
        const struct ferry_tensor *st = p->parts[k].t;
        uint64_t srb = st->ndim == 2 ? st->nbytes / st->shape[0] : st->nbytes;
        uint64_t a = p->concat_axis == 0 ? 0 : r0 * srb, b = p->concat_axis == 0 ? 0 : r1 * srb;
        if (p->concat_axis == 0 && p->nparts == 1) a = r0 * srb, b = r1 * srb;
        if (st->contiguous && b > a && p->parts[k].map)
            ferry_map_done(p->parts[k].map, st->offset + a, b - a);
    }
    if (!rc && j->progress) j->progress(j->progress_ctx, n);
    return rc;
}
