/* Row access for conversion plans: one output row as float32, assembled from Meta shards,
 * moved by the Q/K row permutation, dequantized from any readable source type. */
#include "llama.h"
#include "ferry/quant.h"

#include <string.h>

uint64_t ferry_llama_source_row_bytes(const struct ferry_plan_tensor *p)
{
    uint64_t max = 0;
    for (uint32_t k = 0; k < p->nparts; k++) {
        const struct ferry_tensor *t = p->parts[k].t;
        const struct ferry_dtype_info *d = ferry_dtype_lookup(t->dtype);
        uint64_t cols = t->shape[t->ndim - 1];
        uint64_t rb = cols / d->blck * d->bsize;
        if (rb > max) max = rb;
    }
    return max;
}

/* Row r of one source tensor (its own innermost width) as float. */
static int part_row(const struct ferry_tensor *t, uint64_t r, float *out, uint8_t *scratch,
                    struct ferry_error *err)
{
    const struct ferry_dtype_info *d = ferry_dtype_lookup(t->dtype);
    uint64_t cols = t->shape[t->ndim - 1], rb = cols / d->blck * d->bsize;
    int rc = ferry_tensor_read(NULL, t, r * rb, rb, scratch, err);
    if (!rc && ferry_to_float(t->dtype, scratch, out, cols))
        rc = ferry_error_set(err, FERRY_EMALFORMED, NULL, FERRY_NO_OFFSET, t->name,
                             "cannot read dtype %s", d->name);
    return rc;
}

/* out *= the FP8 scale of source row s (or of the whole tensor) */
static int apply_row_scale(const struct ferry_plan_tensor *p, uint64_t s, float *out,
                           struct ferry_error *err)
{
    const struct ferry_tensor *t = p->row_scale;
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->ndim; d++) n *= t->shape[d];
    uint32_t size = ferry_dtype_lookup(t->dtype)->bsize;
    uint8_t raw[8];
    float scale;
    int rc = ferry_tensor_read(NULL, t, (n == 1 ? 0 : s) * size, size, raw, err);
    if (!rc && ferry_to_float(t->dtype, raw, &scale, 1))
        rc = ferry_error_set(err, FERRY_EMALFORMED, NULL, FERRY_NO_OFFSET, t->name,
                             "cannot read dtype %s", ferry_dtype_name(t->dtype));
    for (uint64_t c = 0; !rc && c < p->cols; c++) out[c] *= scale;
    return rc;
}

int ferry_llama_read_row(const struct ferry_llama *m, const struct ferry_plan_tensor *p, uint64_t r,
                         float *out, uint8_t *scratch, struct ferry_error *err)
{
    (void)m;
    if (p->generated) {
        memcpy(out, p->generated, p->cols * sizeof(float));
        return 0;
    }
    uint64_t s = r;
    if (p->perm != FERRY_PERM_NONE) {
        /* HF keeps each head's rotary pairs as two halves; GGUF and Meta interleave them */
        uint64_t hd = p->rows / p->perm_heads, half = hd / 2, h = r / hd, w = r % hd;
        s = p->perm == FERRY_PERM_HF_TO_GGUF ? h * hd + (w % 2) * half + w / 2
                                             : h * hd + (w % half) * 2 + w / half;
    }
    if (p->nparts == 1) {
        int rc = part_row(p->parts[0].t, p->parts[0].row0 + s, out, scratch, err);
        return rc || !p->row_scale ? rc : apply_row_scale(p, s, out, err);
    }
    if (p->concat_axis == 0) {
        for (uint32_t k = 0; k < p->nparts; k++) {
            const struct ferry_tensor *t = p->parts[k].t;
            uint64_t rows = t->ndim == 2 ? t->shape[0] : 1;
            if (s < rows) return part_row(t, s, out, scratch, err);
            s -= rows;
        }
        return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, p->name,
                               "row out of range");
    }
    for (uint32_t k = 0; k < p->nparts; k++) {
        const struct ferry_tensor *t = p->parts[k].t;
        int rc = part_row(t, s, out, scratch, err);
        if (rc) return rc;
        out += t->shape[1];
    }
    return 0;
}
