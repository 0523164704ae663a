/* Dequantization of ggml's codebook ("grid") block types: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
 * IQ3_S, IQ1_S and IQ1_M. Groups of 8 (or 4) weights are one entry of a fixed codebook, picked by
 * an index, with a sign pattern (IQ2/IQ3) or a shared offset (IQ1) and a small per-group scale
 * under the block's fp16 scale. Layouts and arithmetic as ggml's dequantizers (reference/
 * formats.md); the codebooks were read off llama.cpp's library by scripts/gen-iq-grids.py.
 * The products are formed in ggml's order, so the results are equal to the bit. */
#include "ferry/half.h"
#include "quant_grid.h"

#include "quant_grid_tables.inc"

/* entry e of a packed codebook: n values of `bits` bits each, lowest first */
static inline int level(const uint16_t *packed, const int8_t *levels, int bits, unsigned e, int j)
{
    return levels[(packed[e] >> (bits * j)) & ((1u << bits) - 1)];
}

static inline unsigned u16le(const uint8_t *p)
{
    return (unsigned)(p[0] | p[1] << 8);
}

static inline uint32_t u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* the 7-bit sign field of IQ2/IQ3: an eighth sign keeps the count of minus signs even */
static inline unsigned signs8(unsigned s7)
{
    return s7 | (unsigned)(__builtin_popcount(s7) & 1) << 7;
}

/* 8 values of a 2-bit codebook entry with signs, times db */
static void grid8(const uint16_t *packed, const int8_t *levels, unsigned e, unsigned signs,
                  float db, float *y)
{
    for (int j = 0; j < 8; j++)
        y[j] = db * (float)level(packed, levels, 2, e, j) * ((signs >> j) & 1 ? -1.f : 1.f);
}

/* two 4-value entries of a 3-bit codebook with one 8-bit sign pattern */
static void grid4x2(const uint16_t *packed, const int8_t *levels, unsigned e1, unsigned e2,
                    unsigned signs, float db, float *y)
{
    for (int j = 0; j < 4; j++) {
        y[j] = db * (float)level(packed, levels, 3, e1, j) * ((signs >> j) & 1 ? -1.f : 1.f);
        y[j + 4] =
            db * (float)level(packed, levels, 3, e2, j) * ((signs >> (j + 4)) & 1 ? -1.f : 1.f);
    }
}

void ferry_dequant_iq2_xxs(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, then per 32 values: 4 index bytes, u32 of 4x7 sign bits + scale */
    for (uint64_t i = 0; i < n / 256; i++, b += 66) {
        float d = ferry_fp16_le(b);
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = b + 2 + 8 * ib;
            uint32_t aux = u32le(q + 4);
            float db = d * (0.5f + (float)(aux >> 28)) * 0.25f;
            for (int l = 0; l < 4; l++, y += 8)
                grid8(iq2xxs_packed, iq2xxs_levels, q[l], signs8((aux >> (7 * l)) & 127), db, y);
        }
    }
}

void ferry_dequant_iq2_xs(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, qs u16[32] (9-bit index, 7 sign bits), scales[8] (two nibbles) */
    for (uint64_t i = 0; i < n / 256; i++, b += 74) {
        float d = ferry_fp16_le(b);
        for (int ib = 0; ib < 8; ib++) {
            unsigned sc = b[66 + ib];
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned q = u16le(b + 2 + 2 * (4 * ib + l));
                float db = d * (0.5f + (float)((sc >> (4 * (l / 2))) & 0xf)) * 0.25f;
                grid8(iq2xs_packed, iq2xs_levels, q & 511, signs8(q >> 9), db, y);
            }
        }
    }
}

void ferry_dequant_iq2_s(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, qs[32] (index low bits), signs[32], qh[8], scales[8] */
    for (uint64_t i = 0; i < n / 256; i++, b += 82) {
        float d = ferry_fp16_le(b);
        for (int ib = 0; ib < 8; ib++) {
            unsigned sc = b[74 + ib], qh = b[66 + ib];
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned e = b[2 + 4 * ib + l] | ((qh << (8 - 2 * l)) & 0x300);
                float db = d * (0.5f + (float)((sc >> (4 * (l / 2))) & 0xf)) * 0.25f;
                grid8(iq2s_packed, iq2s_levels, e, b[34 + 4 * ib + l], db, y);
            }
        }
    }
}

void ferry_dequant_iq3_xxs(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, qs[64] (one index per 4 values), then per 32 values a u32 */
    for (uint64_t i = 0; i < n / 256; i++, b += 98) {
        float d = ferry_fp16_le(b);
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = b + 2 + 8 * ib;
            uint32_t aux = u32le(b + 66 + 4 * ib);
            float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
            for (int l = 0; l < 4; l++, y += 8)
                grid4x2(iq3xxs_packed, iq3xxs_levels, q[2 * l], q[2 * l + 1],
                        signs8((aux >> (7 * l)) & 127), db, y);
        }
    }
}

const uint16_t *ferry_iq3xxs_codebook(void)
{
    return iq3xxs_packed;
}

const uint16_t *ferry_iq3s_codebook(void)
{
    return iq3s_packed;
}

const uint16_t *ferry_iq2xxs_codebook(void)
{
    return iq2xxs_packed;
}

const uint16_t *ferry_iq2xs_codebook(void)
{
    return iq2xs_packed;
}

const uint16_t *ferry_iq2s_codebook(void)
{
    return iq2s_packed;
}

const uint16_t *ferry_iq1s_codebook(void)
{
    return iq1s_packed;
}

void ferry_dequant_iq3_s(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, qs[64], qh[8] (ninth index bits), signs[32], scales[4] */
    for (uint64_t i = 0; i < n / 256; i++, b += 110) {
        float d = ferry_fp16_le(b);
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = b + 2 + 8 * ib;
            unsigned qh = b[66 + ib];
            float db = d * (float)(1 + 2 * ((b[106 + ib / 2] >> (4 * (ib % 2))) & 0xf));
            for (int l = 0; l < 4; l++, y += 8)
                grid4x2(iq3s_packed, iq3s_levels, q[2 * l] | ((qh << (8 - 2 * l)) & 256),
                        q[2 * l + 1] | ((qh << (7 - 2 * l)) & 256), b[74 + 4 * ib + l], db, y);
        }
    }
}

#define IQ1_DELTA 0.125f

/* 8 values of the ternary IQ1 codebook, shifted by +-delta, times dl */
static void grid1(unsigned e, float delta, float dl, float *y)
{
    for (int j = 0; j < 8; j++)
        y[j] = dl * ((float)level(iq1s_packed, iq1s_levels, 2, e, j) + delta);
}

void ferry_dequant_iq1_s(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d, qs[32], qh u16[8]: 4x3 index bits, 3-bit scale, delta sign */
    for (uint64_t i = 0; i < n / 256; i++, b += 50) {
        float d = ferry_fp16_le(b);
        for (int ib = 0; ib < 8; ib++) {
            unsigned qh = u16le(b + 34 + 2 * ib);
            float dl = d * (float)(2 * ((qh >> 12) & 7) + 1);
            float delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
            for (int l = 0; l < 4; l++, y += 8)
                grid1(b[2 + 4 * ib + l] | (((qh >> (3 * l)) & 7) << 8), delta, dl, y);
        }
    }
}

void ferry_dequant_iq1_m(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* qs[32], qh[16] (3 index bits + delta sign per 8 values), scales[8] */
    for (uint64_t i = 0; i < n / 256; i++, b += 56) {
        const uint8_t *sc = b + 48; /* four u16: 3-bit group scales; top nibbles form fp16 d */
        const unsigned s[4] = {u16le(sc), u16le(sc + 2), u16le(sc + 4), u16le(sc + 6)};
        unsigned dh = (s[0] >> 12) | ((s[1] >> 8) & 0xf0) | ((s[2] >> 4) & 0xf00) | (s[3] & 0xf000);
        float d = ferry_fp16_to_fp32((uint16_t)dh);
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = b + 4 * ib, *qh = b + 32 + 2 * ib;
            for (int l = 0; l < 4; l++, y += 8) {
                unsigned h = qh[l / 2] >> (4 * (l % 2)); /* low nibble for even l */
                unsigned e = q[l] | ((h & 7) << 8);
                float delta = h & 8 ? -IQ1_DELTA : IQ1_DELTA;
                float dl = d * (float)(2 * ((s[ib / 2] >> (6 * (ib % 2) + 3 * (l / 2))) & 7) + 1);
                grid1(e, delta, dl, y);
            }
        }
    }
}
