/* The IQ2 quantizers as llama-quantize runs them (ggml's quantize_iq2_xxs, _xs and _s): per
 * sub-block of 32 (IQ2_XXS) or 16 values, signs apart, a search over trial scales in which each
 * group of eight magnitudes takes the codebook entry of its levels 1, 3, 5 (256, 512 or 1024
 * entries), or its nearest neighbour there (quant_codebook.c); the sub-block scales are then
 * 4-bit odd multiples of a fp16 super-block scale. IQ2_XXS and IQ2_XS keep seven sign bits per
 * group (an even count of minus signs: an odd one flips the least weighted value); IQ2_S keeps
 * eight. IQ2_XXS and IQ2_XS need importance weights (llama-quantize refuses them without an
 * imatrix); called without, they weigh every column 1. Byte-equal to ggml's. */
#include "ferry/half.h"
#include "quant_codebook.h"
#include "quant_lut.h"
#include "quant_weighted.h"

#include <math.h>
#include <string.h>

#define GROUP_MAX_EPS      1e-15f
#define GROUP_MAX_EPS_IQ2S 1e-8f

static float sum_x2(const float *x)
{
    float s = 0;
    for (int i = 0; i < 256; i++) s += x[i] * x[i];
    return s;
}

/* the magnitudes of a group of 8 and its sign bits; with `even`, an odd count of minus signs
 * is made even by flipping the value of least weight * x^2, and 7 bits are kept */
static uint8_t group_signs(const float *xb, const float *weight, float *xval, int even)
{
    uint8_t s = 0;
    int nflip = 0;
    for (int i = 0; i < 8; i++) {
        xval[i] = xb[i] >= 0 ? xb[i] : -xb[i];
        if (xb[i] < 0) nflip++, s |= (uint8_t)(1 << i);
    }
    if (!even) return s;
    if (nflip % 2) {
        int imin = 0;
        float min = weight[0] * xb[0] * xb[0];
        for (int i = 1; i < 8; i++) {
            float ax = weight[i] * xb[i] * xb[i];
            if (ax < min) min = ax, imin = i;
        }
        xval[imin] = -xval[imin];
        s ^= (uint8_t)(1 << imin);
    }
    return s & 127;
}

static float max_of(const float *v, int n)
{
    float max = v[0];
    for (int i = 1; i < n; i++) max = max > v[i] ? max : v[i]; /* ggml's MAX */
    return max;
}

/* one IQ2_XXS block: d, then per 32 values 4 entry bytes and a 32-bit word of four 7-bit sign
 * fields with the 4-bit scale on top; 66 bytes */
static void block_xxs(const struct ferry_codebook *c, const float *x, uint8_t *b, const float *qw)
{
    float scales[8], weight[32], waux[32], xval[32], max_scale = 0;
    float sigma2 = sum_x2(x) / 256;
    int8_t L[32];
    uint8_t signs[4];
    uint32_t q2[16] = {0};
    memset(b, 0, 66);
    for (int ib = 0; ib < 8; ib++) {
        const float *xb = x + 32 * ib;
        for (int i = 0; i < 32; i++) weight[i] = qw[32 * ib + i] * sqrtf(sigma2 + xb[i] * xb[i]);
        for (int i = 0; i < 32; i++) waux[i] = sqrtf(weight[i]);
        for (int k = 0; k < 4; k++)
            signs[k] = group_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k, 1);
        float max = max_of(xval, 32);
        scales[ib] = 0;
        if (max < GROUP_MAX_EPS) continue;
        float scale = ferry_quant_qp_w(32, 4, xval, (uint8_t *)L, weight), eff_max = scale * 3;
        if (eff_max <= 0) continue;
        scale = ferry_codebook_search(c, 32, FERRY_CB_REDO_ALL, 5, 0.1f, 6, xval, weight, waux,
                                      eff_max, scale, L);
        if (scale < 0) { /* ggml: never expected; flip the scale and the signs */
            scale = -scale;
            for (int k = 0; k < 4; k++) signs[k] = (uint8_t)(~signs[k] & 127);
        }
        for (int k = 0; k < 4; k++) {
            int e = c->kmap[ferry_codebook_pattern(c, L + 8 * k)];
            q2[2 * ib] |= (uint32_t)(e < 0 ? 0 : e) << (8 * k);
            q2[2 * ib + 1] |= (uint32_t)signs[k] << (7 * k);
        }
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0) return;
    float d = max_scale / 31, id = 1 / d;
    ferry_fp16_put_le(b, d);
    for (int ib = 0; ib < 8; ib++)
        q2[2 * ib + 1] |= (uint32_t)ferry_codebook_subscale(id, scales[ib], 15) << 28;
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < 4; k++) b[2 + 4 * i + k] = (uint8_t)(q2[i] >> (8 * k));
}

/* one IQ2_XS block (d, 32 16-bit words of a 9-bit entry and 7 sign bits, 8 scale bytes; 74
 * bytes) or IQ2_S block (d, 32 entry low bytes, 32 sign bytes, 8 bytes of entry high bits, 8
 * scale bytes; 82 bytes); per 16 values two groups and a scale */
static void block_xs_s(const struct ferry_codebook *c, const float *x, uint8_t *b, const float *qw,
                       int is_s)
{
    float scales[16], weight[16], waux[16], xval[16], max_scale = 0;
    float sigma2 = (is_s ? 2 : 1) * sum_x2(x) / 256;
    int8_t L[16];
    uint8_t signs[2];
    size_t size = is_s ? 82 : 74;
    memset(b, 0, size);
    for (int ib = 0; ib < 16; ib++) {
        const float *xb = x + 16 * ib;
        for (int i = 0; i < 16; i++)
            weight[i] = qw ? qw[16 * ib + i] * sqrtf(sigma2 + xb[i] * xb[i])
                           : 0.25f * sigma2 + xb[i] * xb[i];
        for (int i = 0; i < 16; i++) waux[i] = sqrtf(weight[i]);
        for (int k = 0; k < 2; k++)
            signs[k] = group_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k, !is_s);
        float max = max_of(xval, 16);
        memset(L, 0, 16);
        scales[ib] = 0;
        if (max < (is_s ? GROUP_MAX_EPS_IQ2S : GROUP_MAX_EPS)) continue;
        float scale = ferry_codebook_search(c, 16, FERRY_CB_REDO_OFF, 5, 0.1f, 9, xval, weight,
                                            waux, max, max / 5, L);
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 2; k++) signs[k] = (uint8_t)(is_s ? ~signs[k] : ~signs[k] & 127);
        }
        for (int k = 0; k < 2; k++) {
            int e = c->kmap[ferry_codebook_pattern(c, L + 8 * k)], i8 = 2 * ib + k;
            e = e < 0 ? 0 : e;
            if (is_s) {
                b[2 + i8] = (uint8_t)(e & 255);
                b[66 + i8 / 4] |= (uint8_t)((e >> 8) << 2 * (i8 % 4));
                b[34 + i8] = signs[k];
            } else {
                unsigned w = (unsigned)e | (unsigned)signs[k] << 9;
                b[2 + 2 * i8] = (uint8_t)w, b[3 + 2 * i8] = (uint8_t)(w >> 8);
            }
        }
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0) {
        if (!is_s) memset(b + 2, 0, 64); /* ggml clears IQ2_XS's entries, not IQ2_S's */
        return;
    }
    float d = max_scale / 31, id = 1 / d;
    ferry_fp16_put_le(b, is_s ? d * 0.9875f : d);
    uint8_t *sc = b + (is_s ? 74 : 66);
    for (int ib = 0; ib < 16; ib += 2)
        sc[ib / 2] = (uint8_t)(ferry_codebook_subscale(id, scales[ib], 15) |
                               ferry_codebook_subscale(id, scales[ib + 1], 15) << 4);
}

enum kind { XXS, XS, S };

/* a row; zero blocks when there was no memory for the search tables */
static void iq2(enum kind kind, const float *x, void *y, uint64_t n, const float *qw)
{
    static const enum ferry_codebook_id book[] = {FERRY_CB_IQ2XXS, FERRY_CB_IQ2XS, FERRY_CB_IQ2S};
    static const size_t size[] = {66, 74, 82};
    const struct ferry_codebook *c = ferry_codebook(book[kind]);
    float ones[256];
    for (int i = 0; i < 256; i++) ones[i] = 1;
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / 256; i++, b += size[kind], x += 256) {
        const float *w = qw ? qw + 256 * i : kind == S ? NULL : ones;
        if (!c)
            memset(b, 0, size[kind]);
        else if (kind == XXS)
            block_xxs(c, x, b, w);
        else
            block_xs_s(c, x, b, w, kind == S);
    }
}

void ferry_quantize_iq2_xxs(const float *x, void *y, uint64_t n)
{
    iq2(XXS, x, y, n, NULL);
}

void ferry_quantize_iq2_xxs_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq2(XXS, x, y, n, qw);
}

void ferry_quantize_iq2_xs(const float *x, void *y, uint64_t n)
{
    iq2(XS, x, y, n, NULL);
}

void ferry_quantize_iq2_xs_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq2(XS, x, y, n, qw);
}

void ferry_quantize_iq2_s(const float *x, void *y, uint64_t n)
{
    iq2(S, x, y, n, NULL);
}

void ferry_quantize_iq2_s_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq2(S, x, y, n, qw);
}
