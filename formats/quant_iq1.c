/* The IQ1 quantizers as llama-quantize runs them (ggml's quantize_iq1_s and quantize_iq1_m).
 * Each value becomes one of three levels -1, 0, 1 shifted by +-1/8, per group of eight an entry
 * of a 2048-entry codebook. Per sub-block (32 values for IQ1_S, 16 for IQ1_M) the two
 * boundaries splitting the sorted values into the three levels are searched exhaustively with
 * prefix sums (IQ1_M: the shift chosen per half), groups off the codebook move to their nearest
 * neighbour (quant_codebook.c) and the scale is refitted; sub-block scales are 3-bit odd
 * multiples of a fp16 super-block scale (IQ1_M: that scale refitted over the block and spread
 * over the top nibbles of the scale words). The values are sorted with the C library's qsort
 * and ggml's comparison, so equal values keep the order ggml's sort gives them on the same C
 * library. IQ1_S needs importance weights (llama-quantize refuses it without an imatrix);
 * called without, it weighs every column 1. Byte-equal to ggml's. */
#include "ferry/half.h"
#include "quant_codebook.h"
#include "quant_lut.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DELTA 0.125f

static const float x_p[3] = {-1 + DELTA, DELTA, 1 + DELTA};
static const float x_m[3] = {-1 - DELTA, -DELTA, 1 - DELTA};

struct pair {
    float v;
    int i;
};

static int by_value(const void *a, const void *b) /* ggml's iq1_sort_helper */
{
    const float *l = a, *r = b;
    return *l < *r ? -1 : *l > *r ? 1 : 0;
}

/* the values of a sub-block of n in ascending order (positions in p[].i) */
static void sort_values(const float *xb, int n, struct pair *p)
{
    for (int j = 0; j < n; j++) p[j].v = xb[j], p[j].i = j;
    qsort(p, (size_t)n, sizeof(*p), by_value);
}

/* levels 0, 1, 2 from the split points i1 <= i2 of the sorted order */
static void split_levels(const struct pair *p, int n, int i1, int i2, int8_t *L)
{
    for (int j = 0; j < n; j++) L[p[j].i] = (int8_t)(j < i1 ? 0 : j < i2 ? 1 : 2);
}

/* the entry of group levels L (its nearest neighbour's when off the codebook, L then set to
 * it); *off set when it was off */
static int entry_of(const struct ferry_codebook *c, const float *xb, const float *w, float scale,
                    const float *values, int8_t *L, int *off)
{
    int e = c->kmap[ferry_codebook_pattern(c, L)];
    if (e >= 0) return e;
    *off = 1;
    return ferry_codebook_nearest(c, e, xb, w, scale, values, L);
}

/* the weighted least-squares scale of the groups' entries (group k's levels xx[k]), kept
 * only when both sums are positive */
static float refit(const struct ferry_codebook *c, const float *xb, const float *weight,
                   const int *index, int groups, const float *const *xx, float scale)
{
    float sumqx = 0, sumq2 = 0;
    for (int k = 0; k < groups; k++) {
        const int8_t *g = c->grid + 8 * index[k];
        for (int j = 0; j < 8; j++) {
            float w = weight[8 * k + j], q = xx[k][(g[j] - 1) / 2];
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
        }
    }
    return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale;
}

static float sigma2_of(const float *x)
{
    float sumx2 = 0;
    for (int i = 0; i < 256; i++) sumx2 += x[i] * x[i];
    return 2 * sumx2 / 256;
}

static float max_abs(const float *xb, int n)
{
    float max = fabsf(xb[0]);
    for (int i = 1; i < n; i++) max = max > fabsf(xb[i]) ? max : fabsf(xb[i]);
    return max;
}

/* one IQ1_S block: d, 32 entry low bytes, per 32 values a 16-bit word of three 3-bit entry high
 * parts, the 3-bit scale and the shift's sign on top; 50 bytes */
static void block_s(const struct ferry_codebook *c, const float *x, uint8_t *b, const float *qw)
{
    float scales[8], weight[32], sumx[33], sumw[33], max_scale = 0, sigma2 = sigma2_of(x);
    int8_t L[32], shifts[8];
    uint16_t qh[8] = {0};
    struct pair p[32];
    memset(b, 0, 50);
    for (int ib = 0; ib < 8; ib++) {
        const float *xb = x + 32 * ib;
        for (int i = 0; i < 32; i++) weight[i] = qw[32 * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
        scales[ib] = 0, shifts[ib] = 1;
        if (max_abs(xb, 32) < 1e-12f) continue;
        sort_values(xb, 32, p);
        sumx[0] = sumw[0] = 0;
        for (int j = 0; j < 32; j++) {
            int i = p[j].i;
            sumx[j + 1] = sumx[j] + weight[i] * xb[i];
            sumw[j + 1] = sumw[j] + weight[i];
        }
        float best = -FLT_MAX, scale = 0;
        int besti1 = -1, besti2 = -1, shift = 0;
        for (int i1 = 0; i1 <= 32; i1++) {
            for (int i2 = i1; i2 <= 32; i2++) {
                for (int sgn = 0; sgn < 2; sgn++) {
                    const float *xx = sgn ? x_m : x_p;
                    float sumqx = (sumx[i1] - sumx[0]) * xx[0] + (sumx[i2] - sumx[i1]) * xx[1] +
                                  (sumx[32] - sumx[i2]) * xx[2];
                    float sumq2 = (sumw[i1] - sumw[0]) * xx[0] * xx[0] +
                                  (sumw[i2] - sumw[i1]) * xx[1] * xx[1] +
                                  (sumw[32] - sumw[i2]) * xx[2] * xx[2];
                    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                        scale = sumqx / sumq2;
                        best = scale * sumqx;
                        besti1 = i1, besti2 = i2, shift = sgn ? -1 : 1;
                    }
                }
            }
        }
        if (besti1 < 0 || besti2 < 0 || shift == 0) continue;
        split_levels(p, 32, besti1, besti2, L);
        if (scale < 0) {
            for (int j = 0; j < 32; j++) L[j] = (int8_t)(2 - L[j]);
            scale = -scale, shift = -shift;
        }
        const float *xx = shift == 1 ? x_p : x_m;
        int off = 0, index[4];
        for (int k = 0; k < 4; k++)
            index[k] = entry_of(c, xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k, &off);
        const float *xxs[4] = {xx, xx, xx, xx};
        if (off) scale = refit(c, xb, weight, index, 4, xxs, scale);
        for (int k = 0; k < 4; k++) {
            b[2 + 4 * ib + k] = (uint8_t)(index[k] & 255);
            qh[ib] |= (uint16_t)((index[k] >> 8) << 3 * k);
        }
        scales[ib] = scale, shifts[ib] = (int8_t)shift;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale != 0) {
        float d = max_scale / 15, id = 1 / d;
        ferry_fp16_put_le(b, d * 1.125f);
        for (int ib = 0; ib < 8; ib++)
            qh[ib] |=
                (uint16_t)((ferry_codebook_subscale(id, scales[ib], 7) | (shifts[ib] == -1 ? 8 : 0))
                           << 12);
    }
    for (int ib = 0; ib < 8; ib++)
        b[34 + 2 * ib] = (uint8_t)qh[ib], b[35 + 2 * ib] = (uint8_t)(qh[ib] >> 8);
}

/* the best split of a 16-value IQ1_M sub-block and its shifts (k: bit 1 the first half's
 * shift is minus, bit 0 the second's), prefix sums per half as ggml keeps them */
static float search_m(const float *xb, const float *weight, const struct pair *p, int *besti1,
                      int *besti2, int *best_k)
{
    float px[2][17], pw[2][17], sumqx[4], sumq2[4], best = -FLT_MAX, scale = 0;
    px[0][0] = px[1][0] = 0;
    pw[0][0] = pw[1][0] = 0;
    for (int j = 0; j < 16; j++) {
        int i = p[j].i, h = i < 8 ? 0 : 1;
        px[h][j + 1] = px[h][j] + weight[i] * xb[i];
        px[1 - h][j + 1] = px[1 - h][j];
        pw[h][j + 1] = pw[h][j] + weight[i];
        pw[1 - h][j + 1] = pw[1 - h][j];
    }
    const float txs[2] = {px[0][16], px[1][16]}, tws[2] = {pw[0][16], pw[1][16]};
    const float p2 = x_p[2], m2 = x_m[2];
    const float cp1 = x_p[0] * x_p[0] - x_p[1] * x_p[1], cp2 = x_p[1] * x_p[1] - x_p[2] * x_p[2];
    const float cm1 = x_m[0] * x_m[0] - x_m[1] * x_m[1], cm2 = x_m[1] * x_m[1] - x_m[2] * x_m[2];
    for (int i1 = 0; i1 <= 16; i1++) {
        for (int i2 = i1; i2 <= 16; i2++) {
            float qx_p[2], qx_m[2], q2_p[2], q2_m[2];
            for (int h = 0; h < 2; h++) {
                float sx = px[h][i1] + px[h][i2];
                qx_p[h] = txs[h] * p2 - sx;
                qx_m[h] = txs[h] * m2 - sx;
                q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
            }
            sumqx[0] = qx_p[0] + qx_p[1], sumqx[1] = qx_p[0] + qx_m[1];
            sumqx[2] = qx_m[0] + qx_p[1], sumqx[3] = qx_m[0] + qx_m[1];
            sumq2[0] = q2_p[0] + q2_p[1], sumq2[1] = q2_p[0] + q2_m[1];
            sumq2[2] = q2_m[0] + q2_p[1], sumq2[3] = q2_m[0] + q2_m[1];
            for (int k = 0; k < 4; k++) {
                if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
                    scale = sumqx[k] / sumq2[k];
                    best = scale * sumqx[k];
                    *besti1 = i1, *besti2 = i2, *best_k = k;
                }
            }
        }
    }
    return scale;
}

/* the shifted levels of group k (0, 1) of an IQ1_M sub-block with shifts k */
static const float *levels_m(int shifts, int k)
{
    return (k == 0 ? shifts < 2 : shifts % 2 == 0) ? x_p : x_m;
}

static void weights_m(const float *xb, const float *qw, float sigma2, float *weight)
{
    for (int i = 0; i < 16; i++)
        weight[i] = qw ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
}

/* one IQ1_M block: 32 entry low bytes, per 16 values a byte of two 3-bit entry high parts and
 * two shift signs, then four 16-bit words of four 3-bit scales with the fp16 super-block scale
 * in their top nibbles; 56 bytes */
static void block_m(const struct ferry_codebook *c, const float *x, uint8_t *b, const float *qw)
{
    static const uint8_t masks[4] = {0x00, 0x80, 0x08, 0x88};
    float scales[16], weight[16], max_scale = 0, sigma2 = sigma2_of(x);
    int8_t L[16], shifts[16];
    struct pair p[16];
    uint8_t *qs = b, *qh = b + 32;
    uint16_t sc[4] = {0};
    memset(b, 0, 56);
    for (int ib = 0; ib < 16; ib++) {
        const float *xb = x + 16 * ib;
        weights_m(xb, qw ? qw + 16 * ib : NULL, sigma2, weight);
        scales[ib] = 0, shifts[ib] = 0;
        if (max_abs(xb, 16) < 1e-7f) continue;
        sort_values(xb, 16, p);
        int besti1 = -1, besti2 = -1, best_k = -1;
        float scale = search_m(xb, weight, p, &besti1, &besti2, &best_k);
        if (besti1 < 0 || besti2 < 0 || best_k < 0) continue;
        split_levels(p, 16, besti1, besti2, L);
        if (scale < 0) {
            for (int j = 0; j < 16; j++) L[j] = (int8_t)(2 - L[j]);
            scale = -scale, best_k = 3 - best_k;
        }
        int off = 0, index[2];
        for (int k = 0; k < 2; k++)
            index[k] = entry_of(c, xb + 8 * k, weight + 8 * k, scale, levels_m(best_k, k),
                                L + 8 * k, &off);
        const float *xxs[2] = {levels_m(best_k, 0), levels_m(best_k, 1)};
        if (off) scale = refit(c, xb, weight, index, 2, xxs, scale);
        qs[2 * ib] = (uint8_t)(index[0] & 255);
        qs[2 * ib + 1] = (uint8_t)(index[1] & 255);
        qh[ib] = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
        scales[ib] = scale, shifts[ib] = (int8_t)best_k;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale != 0) {
        float d = max_scale / 15, id = 1 / d, sumqx = 0, sumq2 = 0;
        for (int ib = 0; ib < 16; ib++) {
            int l = ferry_codebook_subscale(id, scales[ib], 7);
            sc[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
            qh[ib] |= masks[shifts[ib]];
            const float *xb = x + 16 * ib;
            weights_m(xb, qw ? qw + 16 * ib : NULL, sigma2, weight);
            for (int k = 0; k < 2; k++) {
                const float *xx = levels_m(shifts[ib], k);
                const int8_t *g =
                    c->grid + 8 * (qs[2 * ib + k] + ((qh[ib] << (8 - 4 * k)) & 0x700));
                for (int j = 0; j < 8; j++) {
                    float w = weight[8 * k + j], q = xx[(g[j] - 1) / 2] * (float)(2 * l + 1);
                    sumqx += w * q * xb[8 * k + j];
                    sumq2 += w * q * q;
                }
            }
        }
        if (sumq2 > 0) d = sumqx / sumq2;
        uint8_t h[2];
        ferry_fp16_put_le(h, d * 1.1125f);
        unsigned s = (unsigned)h[0] | (unsigned)h[1] << 8;
        sc[0] |= (uint16_t)((s & 0x000f) << 12);
        sc[1] |= (uint16_t)((s & 0x00f0) << 8);
        sc[2] |= (uint16_t)((s & 0x0f00) << 4);
        sc[3] |= (uint16_t)(s & 0xf000);
    }
    for (int i = 0; i < 4; i++)
        b[48 + 2 * i] = (uint8_t)sc[i], b[49 + 2 * i] = (uint8_t)(sc[i] >> 8);
}

/* a row; zero blocks when there was no memory for the search tables */
static void iq1(int m, const float *x, void *y, uint64_t n, const float *qw)
{
    const struct ferry_codebook *c = ferry_codebook(FERRY_CB_IQ1S);
    size_t size = m ? 56 : 50;
    float ones[256];
    for (int i = 0; i < 256; i++) ones[i] = 1;
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / 256; i++, b += size, x += 256) {
        const float *w = qw ? qw + 256 * i : m ? NULL : ones;
        if (!c)
            memset(b, 0, size);
        else if (m)
            block_m(c, x, b, w);
        else
            block_s(c, x, b, w);
    }
}

void ferry_quantize_iq1_s(const float *x, void *y, uint64_t n)
{
    iq1(0, x, y, n, NULL);
}

void ferry_quantize_iq1_s_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq1(0, x, y, n, qw);
}

void ferry_quantize_iq1_m(const float *x, void *y, uint64_t n)
{
    iq1(1, x, y, n, NULL);
}

void ferry_quantize_iq1_m_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq1(1, x, y, n, qw);
}
