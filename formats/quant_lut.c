/* Dequantization of the block types whose levels come from a small table or are ternary:
 * IQ4_NL and IQ4_XS (a 16-entry non-linear table), MXFP4 (E2M1 values under an E8M0 scale,
 * the OCP microscaling format) and TQ1_0/TQ2_0 (ternary -1/0/1 under a fp16 scale). Layouts
 * as ggml stores them (reference/formats.md); the IQ4 quantizers are in quant_iq4.c. */
#include "ferry/half.h"
#include "quant_lut.h"

#include <math.h>

const int8_t ferry_iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                       1,    13,   25,  38,  53,  69,  89,  113};
/* E2M1 values times two, so the table stays integral; the E8M0 scale is halved to match */
static const int8_t e2m1_doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* 32 values from 16 bytes of 4-bit indices: low nibbles first, then high nibbles */
static void nibbles(const uint8_t *qs, const int8_t *table, float d, float *y)
{
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)table[qs[j] & 0xf];
        y[j + 16] = d * (float)table[qs[j] >> 4];
    }
}

void ferry_dequant_iq4_nl(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, qs[16] */
    for (uint64_t i = 0; i < n / 32; i++, b += 18, y += 32)
        nibbles(b + 2, ferry_iq4nl_levels, ferry_fp16_le(b), y);
}

void ferry_dequant_iq4_xs(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, scales_h (u16), scales_l[4], qs[128] */
    for (uint64_t i = 0; i < n / 256; i++, b += 136) {
        float d = ferry_fp16_le(b);
        unsigned sh = (unsigned)(b[2] | b[3] << 8);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (int)(((sh >> (2 * ib)) & 3) << 4);
            nibbles(b + 8 + 16 * ib, ferry_iq4nl_levels, d * (float)(ls - 32), y);
        }
    }
}

void ferry_dequant_mxfp4(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* e (E8M0), qs[16] */
    for (uint64_t i = 0; i < n / 32; i++, b += 17, y += 32)
        nibbles(b + 1, e2m1_doubled, ldexpf(1.f, b[0] - 128), y);
}

/* a byte holding 5 (or 4) trits as a fixed-point fraction: trit k is the integer part of
 * 3 * (q * 3^k mod 256) / 256 */
static float trit(uint8_t q, int k, float d)
{
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t v = (uint8_t)(q * pow3[k]);
    return (float)((int)((unsigned)v * 3 >> 8) - 1) * d;
}

void ferry_dequant_tq1_0(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* qs[48] (5 trits each), qh[4] (4 trits each), d */
    for (uint64_t i = 0; i < n / 256; i++, b += 54) {
        float d = ferry_fp16_le(b + 52);
        for (int k = 0; k < 5; k++) /* qs[0..31]: trit k of byte m is element 32k + m */
            for (int m = 0; m < 32; m++) *y++ = trit(b[m], k, d);
        for (int k = 0; k < 5; k++) /* qs[32..47] */
            for (int m = 0; m < 16; m++) *y++ = trit(b[32 + m], k, d);
        for (int k = 0; k < 4; k++)
            for (int m = 0; m < 4; m++) *y++ = trit(b[48 + m], k, d);
    }
}

void ferry_dequant_tq2_0(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* qs[64] (four 2-bit values 0..2 each), d */
    for (uint64_t i = 0; i < n / 256; i++, b += 66) {
        float d = ferry_fp16_le(b + 64);
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; l++)
                for (int m = 0; m < 32; m++) *y++ = (float)(((b[j + m] >> (2 * l)) & 3) - 1) * d;
    }
}
