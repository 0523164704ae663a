/* The IQ3 quantizers as llama-quantize runs them (ggml's quantize_iq3_s and quantize_iq3_xxs):
 * per 32 values, signs apart, a search over trial scales in which each group of four magnitudes
 * takes its point of the codebook (512 entries for IQ3_S, 256 for IQ3_XXS), or when it falls off
 * the codebook the nearest of its neighbours there (weighted distance), the scale then fitted by
 * weighted least squares; eight such scales per 256 values as 4-bit odd multiples of a fp16
 * super-block scale. The neighbour lists are ggml's (quant_codebook.c): for every one of the
 * 4096 level patterns off the codebook, the entries at its smallest three (IQ3_S) or two
 * (IQ3_XXS) squared distances, ordered by distance then index. Byte-equal to ggml's, including its
 * quirks (an all-zero IQ3_S sub-block leaves the index and sign cursors where they are). */
#include "ferry/half.h"
#include "quant_codebook.h"
#include "quant_lut.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* weights of a sub-block: x^2, or qw * sqrt(sigma2 + x^2); waux their square roots */
static void weights(const float *xb, const float *qw, float sigma2, float *weight, float *waux)
{
    for (int i = 0; i < 32; i++)
        weight[i] = qw ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
    for (int i = 0; i < 32; i++) waux[i] = sqrtf(weight[i]);
}

static float sigma2_of(const float *x)
{
    float sumx2 = 0;
    for (int i = 0; i < 256; i++) sumx2 += x[i] * x[i];
    return 2 * sumx2 / 256;
}

/* magnitudes of 8 values and their sign bits */
static uint8_t magnitudes(const float *xb, float *xval, int *nflip)
{
    uint8_t s = 0;
    *nflip = 0;
    for (int i = 0; i < 8; i++) {
        if (xb[i] >= 0) {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            ++*nflip;
            s |= (uint8_t)(1 << i);
        }
    }
    return s;
}

static float max_of(const float *xval)
{
    float max = xval[0];
    for (int i = 1; i < 32; i++) max = max > xval[i] ? max : xval[i]; /* ggml's MAX */
    return max;
}

/* one IQ3_S block: d, qs[64], qh[8], signs[32], scales[4]; 110 bytes */
static void block_s(const struct ferry_codebook *c, const float *x, uint8_t *b, const float *qw)
{
    float scales[8], weight[32], waux[32], xval[32], max_scale = 0, sigma2 = sigma2_of(x);
    int8_t L[32];
    uint8_t block_signs[4];
    int nflip;
    memset(b, 0, 110);
    uint8_t *qs = b + 2, *qh = b + 66, *signs = b + 74;
    for (int ib = 0; ib < 8; ib++) {
        const float *xb = x + 32 * ib;
        weights(xb, qw ? qw + 32 * ib : NULL, sigma2, weight, waux);
        for (int k = 0; k < 4; k++) block_signs[k] = magnitudes(xb + 8 * k, xval + 8 * k, &nflip);
        float max = max_of(xval);
        memset(L, 0, 32);
        if (max == 0) { /* ggml leaves its qs and signs cursors in place here */
            scales[ib] = 0;
            continue;
        }
        float scale = ferry_codebook_search(c, 32, FERRY_CB_REDO_ALL_IF_OFF, 15, 0.2f, 9, xval,
                                            weight, waux, max, max / 15, L);
        if (scale < 0) { /* ggml: never expected; flip the scale and the signs */
            scale = -scale;
            for (int k = 0; k < 4; k++) block_signs[k] = (uint8_t)~block_signs[k];
        }
        for (int k = 0; k < 8; k++) {
            int e = c->kmap[ferry_codebook_pattern(c, L + 4 * k)];
            qs[k] = (uint8_t)(e & 255);
            qh[ib] |= (uint8_t)((e >> 8) << k);
        }
        qs += 8;
        memcpy(signs, block_signs, 4);
        signs += 4;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0) return;
    float d = max_scale / 31, id = 1 / d;
    ferry_fp16_put_le(b, d * 1.033f);
    for (int ib = 0; ib < 8; ib += 2)
        b[106 + ib / 2] = (uint8_t)(ferry_codebook_subscale(id, scales[ib], 15) |
                                    (ferry_codebook_subscale(id, scales[ib + 1], 15) << 4));
}

/* one IQ3_XXS block: d, 64 entry indices, then per sub-block a 32-bit word of four 7-bit sign
 * fields (an even count of minus signs: an odd one flips the least weighted value) with the
 * 4-bit scale on top; 98 bytes */
static void block_xxs(const struct ferry_codebook *c, const float *x, uint8_t *b, const float *qw)
{
    float scales[8], weight[32], waux[32], xval[32], max_scale = 0, sigma2 = sigma2_of(x);
    int8_t L[32];
    uint8_t block_signs[4];
    uint32_t sas[8] = {0};
    int nflip;
    memset(b, 0, 98);
    for (int ib = 0; ib < 8; ib++) {
        const float *xb = x + 32 * ib;
        weights(xb, qw ? qw + 32 * ib : NULL, sigma2, weight, waux);
        for (int k = 0; k < 4; k++) {
            uint8_t s = magnitudes(xb + 8 * k, xval + 8 * k, &nflip);
            if (nflip % 2) {
                int imin = 0;
                float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                for (int i = 1; i < 8; i++) {
                    float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                    if (ax < min) min = ax, imin = i;
                }
                xval[8 * k + imin] = -xval[8 * k + imin];
                s ^= (uint8_t)(1 << imin);
            }
            block_signs[k] = s & 127;
        }
        float max = max_of(xval);
        memset(L, 0, 32);
        if (max < 1e-8f) {
            scales[ib] = 0;
            continue;
        }
        float scale = ferry_codebook_search(c, 32, FERRY_CB_REDO_OFF, 15, 0.2f, 15, xval, weight,
                                            waux, max, max / 15, L);
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 4; k++) block_signs[k] = (uint8_t)(~block_signs[k] & 127);
        }
        for (int k = 0; k < 8; k++)
            b[2 + 8 * ib + k] = (uint8_t)c->kmap[ferry_codebook_pattern(c, L + 4 * k)];
        sas[ib] = block_signs[0] | (uint32_t)block_signs[1] << 7 | (uint32_t)block_signs[2] << 14 |
                  (uint32_t)block_signs[3] << 21;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0) {
        memset(b, 0, 98);
        return;
    }
    float d = max_scale / 31, id = 1 / d;
    ferry_fp16_put_le(b, d * 1.0125f);
    for (int ib = 0; ib < 8; ib++) {
        uint32_t w = sas[ib] | (uint32_t)ferry_codebook_subscale(id, scales[ib], 15) << 28;
        for (int k = 0; k < 4; k++) b[66 + 4 * ib + k] = (uint8_t)(w >> (8 * k));
    }
}

typedef void (*block_fn)(const struct ferry_codebook *c, const float *x, uint8_t *b,
                         const float *qw);

/* a row of whole blocks of size bytes; zero blocks when there was no memory for the search
 * tables */
static void row(enum ferry_codebook_id id, block_fn block, size_t size, const float *x, void *y,
                uint64_t n, const float *qw)
{
    const struct ferry_codebook *c = ferry_codebook(id);
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / 256; i++, b += size, x += 256, qw = qw ? qw + 256 : NULL) {
        if (c)
            block(c, x, b, qw);
        else
            memset(b, 0, size);
    }
}

static void iq3_s(const float *x, void *y, uint64_t n, const float *qw)
{
    row(FERRY_CB_IQ3S, block_s, 110, x, y, n, qw);
}

static void iq3_xxs(const float *x, void *y, uint64_t n, const float *qw)
{
    row(FERRY_CB_IQ3XXS, block_xxs, 98, x, y, n, qw);
}

void ferry_quantize_iq3_s(const float *x, void *y, uint64_t n)
{
    iq3_s(x, y, n, NULL);
}

void ferry_quantize_iq3_s_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq3_s(x, y, n, qw);
}

void ferry_quantize_iq3_xxs(const float *x, void *y, uint64_t n)
{
    iq3_xxs(x, y, n, NULL);
}

void ferry_quantize_iq3_xxs_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq3_xxs(x, y, n, qw);
}
