/* The matmul kernels chosen for this CPU (AVX2, AVX-512, VNNI or portable C) against a
 * double-precision reference over the same quantized values: Q8_0 and Q4_0 weights with Q8_0
 * activations (block counts with and without a tail of the 8-block loop), Q4_K and Q6_K with
 * Q8_K activations (SIMD and portable versions) or dequantized rows, F16 and F32, one and
 * several tokens. */
#include "kernels.h"
#include "kernels_k.h"
#include "ferry/half.h"
#include "ferry/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t seed = 12345;
static float rnd(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / 16777216.0f - 0.5f;
}

static double h(const uint8_t *p)
{
    return ferry_fp16_to_fp32((uint16_t)(p[0] | p[1] << 8));
}

/* reference dot of row r with token t, from the stored (quantized) values; *mag gets the sum
 * of the magnitudes of the terms, the scale of a float summation's rounding error */
static double ref(const struct weight *w, uint64_t r, const float *x, const uint8_t *xq,
                  double *mag)
{
    const uint8_t *row = w->data + r * w->rb;
    double s = 0, m = 0;
    uint64_t nb = xq ? w->cols / 32 : 0; /* block types only */
    for (uint64_t b = 0; b < nb; b++) {
        const uint8_t *q = xq + 34 * b;
        long acc = 0;
        if (w->dt == FERRY_DT_Q8_0) {
            for (size_t j = 0; j < 32; j++) acc += (int8_t)row[34 * b + 2 + j] * (int8_t)q[2 + j];
            s += (double)acc * h(row + 34 * b) * h(q);
            m += fabs((double)acc * h(row + 34 * b) * h(q));
        } else if (w->dt == FERRY_DT_Q4_0) {
            const uint8_t *wb = row + 18 * b;
            long sumx = 0;
            for (size_t j = 0; j < 16; j++) {
                acc += ((wb[2 + j] & 15) - 8) * (int8_t)q[2 + j] +
                       ((wb[2 + j] >> 4) - 8) * (int8_t)q[18 + j];
                sumx += (int8_t)q[2 + j] + (int8_t)q[18 + j];
            }
            s += (double)acc * h(wb) * h(q);
            /* kernels may take the -8 offset out through 8 * sum(x): both parts count */
            m += fabs((double)(acc + 8 * sumx) * h(wb) * h(q)) +
                 fabs(8.0 * (double)sumx * h(wb) * h(q));
        }
    }
    int kq = w->dt == FERRY_DT_Q4_K || w->dt == FERRY_DT_Q6_K;
    float *deq = kq ? malloc(w->cols * sizeof(float)) : NULL;
    if (deq) ferry_to_float(w->dt, row, deq, w->cols);
    for (uint64_t b = 0; deq && b < w->cols / 256; b++) {
        const struct q8k *q = xq ? (const struct q8k *)(const void *)xq + b : NULL;
        const uint8_t *wb = row + b * (w->dt == FERRY_DT_Q4_K ? 144 : 210);
        /* the kernels sum d*scale*level and dmin*min (Q4_K) or 32*d*scale (Q6_K) apart */
        double part = w->dt == FERRY_DT_Q4_K ? fabs(h(wb)) * 63 * 15 + fabs(h(wb + 2)) * 63
                                             : fabs(h(wb + 208)) * 128 * 64;
        for (int i = 0; i < 256; i++) {
            double xv = q ? (double)q->d * q->qs[i] : x[256 * b + (uint64_t)i];
            s += (double)deq[256 * b + (uint64_t)i] * xv;
            m += part * fabs(xv);
        }
    }
    free(deq);
    for (uint64_t i = 0; w->dt == FERRY_DT_F32 && i < w->cols; i++) {
        s += (double)((const float *)row)[i] * x[i];
        m += fabs((double)((const float *)row)[i] * x[i]);
    }
    for (uint64_t i = 0; w->dt == FERRY_DT_F16 && i < w->cols; i++) {
        s += h(row + 2 * i) * x[i];
        m += fabs(h(row + 2 * i) * x[i]);
    }
    for (uint64_t i = 0; w->dt == FERRY_DT_BF16 && i < w->cols; i++) {
        float v = 0;
        uint32_t bits = (uint32_t)(row[2 * i] | row[2 * i + 1] << 8) << 16;
        memcpy(&v, &bits, 4);
        s += (double)v * x[i];
        m += fabs((double)v * x[i]);
    }
    *mag = m;
    return s;
}

static int run(enum ferry_dtype dt, uint64_t cols, uint32_t T, uint64_t rows)
{
    size_t bs = ferry_dtype_lookup(dt)->bsize, be = ferry_dtype_lookup(dt)->blck;
    uint64_t rb = cols / be * bs;
    float *wf = malloc(rows * cols * 4), *x = malloc(T * cols * 4), *y = malloc(T * rows * 4);
    uint8_t *wq = malloc(rows * rb);
    for (uint64_t i = 0; i < rows * cols; i++) wf[i] = rnd();
    for (uint64_t i = 0; i < T * cols; i++) x[i] = 3 * rnd();
    for (uint64_t r = 0; r < rows; r++) ferry_from_float(dt, wf + r * cols, wq + r * rb, cols);
    struct weight w = {.data = wq, .dt = dt, .rows = rows, .cols = cols, .rb = rb, .file_dt = dt};
    kern_repack(&w); /* Q4_0/Q8_0 in groups of eight rows with VNNI (rows a multiple of 8) */
    size_t xb = kern_xq_bytes(&w, T);
    uint8_t *xq = xb ? malloc(xb) : NULL, *xn = xb ? malloc(xb) : NULL;
    if (xq) kern_prepare_x(&w, x, T, T, xq);
    /* the same activations one token a batch: natural order even where a batch of T is put in
     * the integer tiles' order, for the reference */
    for (uint32_t t = 0; xq && t < T; t++)
        kern_prepare_x(&w, x + t * cols, 1, 1, xn + t * (xb / T));
    float *scratch = malloc(KERN_SCRATCH_ROWS * cols * sizeof(float));
    kern_matmul(&w, x, xq, T, y, rows, 0, 24, scratch); /* two threads' shares */
    kern_matmul(&w, x, xq, T, y, rows, 24, rows, scratch);
    free(scratch);
    double worst = 0;
    for (uint32_t t = 0; t < T; t++)
        for (uint64_t r = 0; r < rows; r++) {
            double mag;
            double want = ref(&w, r, x + t * cols, xq ? xn + t * (xb / T) : NULL, &mag);
            double err = fabs(y[t * rows + r] - want) / (1e-30 + mag);
            if (err > worst) worst = err;
        }
    if (xq && (dt == FERRY_DT_Q4_K || dt == FERRY_DT_Q6_K)) /* the portable version agrees too */
        for (uint64_t r = 0; r < rows; r++) {
            double mag;
            double want = ref(&w, r, x, xn, &mag);
            float got =
                kq_dot(dt, 1)(wq + r * rb, (const struct q8k *)(const void *)xn, cols / 256);
            double err = fabs(got - want) / (1e-30 + mag);
            if (err > worst) worst = err;
        }
    if (xq && T >= 4 && (dt == FERRY_DT_Q4_K || dt == FERRY_DT_Q6_K)) { /* the portable tile too */
        size_t rs = kq_decoded_bytes(cols);
        uint8_t *dec = malloc(2 * rs), *xt = malloc(xb);
        const struct q8k *xs[4];
        const float *xm[4];
        memcpy(xt, xn, xb);
        for (uint32_t i = 0; i < 4; i++) {
            q8k_tile_order((struct q8k *)(void *)(xt + i * (xb / T)), cols / 256);
            xs[i] = (const struct q8k *)(const void *)(xt + i * (xb / T));
            xm[i] = (const float *)(const void *)(xs[i] + cols / 256);
        }
        for (uint64_t r = 0; r + 2 <= rows; r += 2) {
            float o[8];
            kq_decode_row(dt, wq + r * rb, cols, dec);
            kq_decode_row(dt, wq + (r + 1) * rb, cols, dec + rs);
            kq_tile(1)(dec, rs, 2, xs, xm, cols / 256, o);
            for (uint32_t i = 0; i < 8; i++) {
                double mag;
                double want = ref(&w, r + i % 2, x + i / 2 * cols, xn + i / 2 * (xb / T), &mag);
                double err = fabs(o[i] - want) / (1e-30 + mag);
                if (err > worst) worst = err;
            }
        }
        free(dec), free(xt);
    }
    int bad = worst > 1e-6; /* a few float roundings of the magnitude, not a wrong term */
    printf("%-5s rows %2llu cols %5llu tokens %u%s: worst error / sum of |terms| %.2e%s\n",
           ferry_dtype_lookup(dt)->name, (unsigned long long)rows, (unsigned long long)cols, T,
           w.rep ? " repacked" : "", worst, bad ? "  FAIL" : "");
    free(wf), free(x), free(y), free(wq), free(xq), free(xn), free(w.rep);
    return bad;
}

int main(void)
{
    int bad = 0;
    const enum ferry_dtype types[] = {FERRY_DT_Q8_0, FERRY_DT_Q4_0, FERRY_DT_F16, FERRY_DT_F32};
    const uint64_t cols[] = {32, 256, 800, 4128};
    for (size_t i = 0; i < 4; i++)
        for (size_t c = 0; c < 4; c++)
            for (uint32_t T = 1; T <= 3; T += 2) bad |= run(types[i], cols[c], T, 37);
    /* F16/F32/BF16 prompt tiles of 4 rows x 6 or 4 tokens, and what is left over */
    const enum ferry_dtype ftypes[] = {FERRY_DT_F16, FERRY_DT_F32, FERRY_DT_BF16};
    for (size_t i = 0; i < 3; i++)
        for (size_t c = 0; c < 4; c++)
            for (uint32_t T = 1; T <= 11; T += T == 1 ? 4 : T == 5 ? 1 : 5) /* 1, 5, 6, 11 */
                bad |= run(ftypes[i], cols[c], T, 37);
    for (size_t i = 0; i < 2; i++) /* whole groups of eight rows, plus a thread split inside */
        for (size_t c = 0; c < 4; c++)
            for (uint32_t T = 1; T <= 6; T += T == 1 ? 2 : 3) bad |= run(types[i], cols[c], T, 48);
    const enum ferry_dtype ktypes[] = {FERRY_DT_Q4_K, FERRY_DT_Q6_K};
    const uint64_t kcols[] = {256, 768, 4096};
    for (size_t i = 0; i < 2; i++)
        for (size_t c = 0; c < 3; c++)
            for (uint32_t T = 1; T <= 7; T += 2) bad |= run(ktypes[i], kcols[c], T, 37);
    printf(bad ? "FAIL\n" : "all kernels agree with the reference\n");
    return bad;
}
