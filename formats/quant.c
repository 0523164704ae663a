/* Quantize/dequantize kernels, one row of the trait table per type. Block layouts follow
 * ggml-common.h (reference/formats.md 2.1-2.2); quantizers follow the reference rounding of
 * 2.3, so their arithmetic must not be contracted into FMAs (-ffp-contract=off in CMake). */
#include "ferry/quant.h"
#include "rows.h"
#include "ferry/half.h"
#include "quant_k.h"
#include "float8.h"
#include "quant_grid.h"
#include "quant_lut.h"

#include "ferry/cpu.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define QK  32
#define QKK 256

/* ---- plain types ---- */
void ferry_rows_f32_to(const void *x, float *y, uint64_t n)
{
    memcpy(y, x, n * 4);
}
void ferry_rows_f32_from(const float *x, void *y, uint64_t n)
{
    memcpy(y, x, n * 4);
}
/* little-endian host: the uint16 arrays are the file's bytes (x86-64, arm64) */
void ferry_rows_f16_to(const void *x, float *y, uint64_t n)
{
    ferry_fp16_to_fp32_row(x, y, (size_t)n);
}
void ferry_rows_f16_from(const float *x, void *y, uint64_t n)
{
    ferry_fp32_to_fp16_row(x, y, (size_t)n);
}
void ferry_rows_bf16_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *p = x;
    for (uint64_t i = 0; i < n; i++)
        y[i] = ferry_bf16_to_fp32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
}
void ferry_rows_bf16_from(const float *x, void *y, uint64_t n)
{
    uint8_t *p = y;
    for (uint64_t i = 0; i < n; i++) {
        uint16_t b = ferry_fp32_to_bf16(x[i]);
        p[2 * i] = (uint8_t)b;
        p[2 * i + 1] = (uint8_t)(b >> 8);
    }
}
void ferry_rows_f64_to(const void *x, float *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        double d;
        memcpy(&d, (const uint8_t *)x + 8 * i, 8);
        y[i] = (float)d;
    }
}

/* ---- 32-element blocks ---- */
void ferry_rows_q8_0_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n / QK; i++, b += 34) {
        float d = ferry_fp16_le(b);
        for (int j = 0; j < QK; j++) y[i * QK + (uint64_t)j] = (float)(int8_t)b[2 + j] * d;
    }
}

/* float -> int truncation as x86's cvttss2si does it: C leaves NaN and values beyond int's
 * range undefined; the CPU gives INT32_MIN, which is what llama.cpp's compiled quantizers
 * store (its low byte, 0) for a NaN weight */
static inline int trunc_x86(float v)
{
    return fabsf(v) < 2147483648.f ? (int)v : INT32_MIN;
}

/* C roundf (half away from zero) for |v| < 2^23, without a libm call: truncate, then
 * look at the exact remainder. `any`: v may be NaN or huge (x86 truncation); a literal at
 * every call, so the finite case keeps its vectorized loop. */
static inline __attribute__((always_inline)) int round_away(float v, int any)
{
    int i = any ? trunc_x86(v) : (int)v;
    float f = v - (float)i;
    return f >= 0.5f ? i + 1 : f <= -0.5f ? i - 1 : i;
}

/* 1 when a block holds a NaN or an infinity (all-ones exponent) */
static int has_nonfinite(const float *x)
{
    uint32_t bad = 0;
    for (int j = 0; j < QK; j++) {
        uint32_t u;
        memcpy(&u, &x[j], 4);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad != 0;
}

#if defined(__x86_64__)
/* One finite block with AVX-512: the same operations lane by lane (a plain maximum, since no
 * NaN can be kept; x * id; truncation, then one step away from zero where the part cut off is
 * half or more), so the bytes equal the scalar loop's. */
__attribute__((target("avx512f"))) static void q8_0_block_avx512(const float *x, uint8_t *b,
                                                                 float id)
{
    const __m512 vid = _mm512_set1_ps(id), half = _mm512_set1_ps(0.5f),
                 mhalf = _mm512_set1_ps(-0.5f);
    for (int h = 0; h < 2; h++) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + 16 * h), vid);
        __m512i i = _mm512_cvttps_epi32(v);
        __m512 f = _mm512_sub_ps(v, _mm512_cvtepi32_ps(i));
        i = _mm512_mask_add_epi32(i, _mm512_cmp_ps_mask(f, half, _CMP_GE_OQ), i,
                                  _mm512_set1_epi32(1));
        i = _mm512_mask_sub_epi32(i, _mm512_cmp_ps_mask(f, mhalf, _CMP_LE_OQ), i,
                                  _mm512_set1_epi32(1));
        _mm_storeu_si128((__m128i *)(void *)(b + 16 * h), _mm512_cvtepi32_epi8(i));
    }
}

__attribute__((target("avx512f"))) static float absmax_avx512(const float *x)
{
    return _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x)), _mm512_abs_ps(_mm512_loadu_ps(x + 16))));
}
#endif

static void q8_0_scalar(const float *x, uint8_t *b, uint64_t n)
{
    for (uint64_t i = 0; i < n / QK; i++, b += 34, x += QK) {
        float amax = 0.0f; /* ggml's MAX(a, b): a NaN is kept only when it comes last */
        for (int j = 0; j < QK; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / 127.0f; /* (1 << 7) - 1 */
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ferry_fp16_put_le(b, d);
        if (has_nonfinite(x))
            for (int j = 0; j < QK; j++) b[2 + j] = (uint8_t)(int8_t)round_away(x[j] * id, 1);
        else
            for (int j = 0; j < QK; j++) b[2 + j] = (uint8_t)(int8_t)round_away(x[j] * id, 0);
    }
}

void ferry_rows_q8_0_from(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
#if defined(__x86_64__)
    if (ferry_cpu_detect()->avx512f) {
        for (uint64_t i = 0; i < n / QK; i++, b += 34, x += QK) {
            if (has_nonfinite(x)) { /* NaN and infinity as ggml's scalar code treats them */
                q8_0_scalar(x, b, QK);
                continue;
            }
            const float d = absmax_avx512(x) / 127.0f;
            ferry_fp16_put_le(b, d);
            q8_0_block_avx512(x, b + 2, d != 0.0f ? 1.0f / d : 0.0f);
        }
        return;
    }
#endif
    q8_0_scalar(x, b, n);
}

/* signed value of largest magnitude, first one on ties */
static float absmax_signed(const float *x)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void minmax(const float *x, float *mn, float *mx)
{
    float lo = 3.402823466e+38f, hi = -3.402823466e+38f;
    for (int j = 0; j < QK; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

void ferry_rows_q4_0_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n / QK; i++, b += 18, y += QK) {
        float d = ferry_fp16_le(b);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[2 + j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
        }
    }
}

void ferry_rows_q4_0_from(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / QK; i++, b += 18, x += QK) {
        const float d = absmax_signed(x) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ferry_fp16_put_le(b, d);
        for (int j = 0; j < 16; j++) {
            int a = (int8_t)trunc_x86(x[j] * id + 8.5f),
                c = (int8_t)trunc_x86(x[j + 16] * id + 8.5f);
            a = a < 15 ? a : 15;
            c = c < 15 ? c : 15;
            b[2 + j] = (uint8_t)(a | c << 4);
        }
    }
}

void ferry_rows_q4_1_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n / QK; i++, b += 20, y += QK) {
        float d = ferry_fp16_le(b), m = ferry_fp16_le(b + 2);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[4 + j] & 0x0f) * d + m;
            y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
        }
    }
}

void ferry_rows_q4_1_from(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / QK; i++, b += 20, x += QK) {
        float mn, mx;
        minmax(x, &mn, &mx);
        const float d = (mx - mn) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ferry_fp16_put_le(b, d);
        ferry_fp16_put_le(b + 2, mn);
        for (int j = 0; j < 16; j++) {
            int a = (int8_t)trunc_x86((x[j] - mn) * id + 0.5f),
                c = (int8_t)trunc_x86((x[j + 16] - mn) * id + 0.5f);
            a = a < 15 ? a : 15;
            c = c < 15 ? c : 15;
            b[4 + j] = (uint8_t)(a | c << 4);
        }
    }
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

/* Q5: low nibbles as Q4, bit 4 of element j in qh bit j (j < 32) */
static void q5_to(const void *x, float *y, uint64_t n, int has_min)
{
    const uint8_t *b = x;
    size_t bs = has_min ? 24u : 22u, qo = has_min ? 8u : 6u;
    for (uint64_t i = 0; i < n / QK; i++, b += bs, y += QK) {
        float d = ferry_fp16_le(b), m = has_min ? ferry_fp16_le(b + 2) : 0.0f;
        uint32_t qh = rd32(b + qo - 4);
        for (int j = 0; j < 16; j++) {
            int lo = (b[qo + (size_t)j] & 0x0f) | (int)((qh >> j) << 4 & 0x10);
            int hi = (b[qo + (size_t)j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            if (has_min) {
                y[j] = (float)lo * d + m;
                y[j + 16] = (float)hi * d + m;
            } else {
                y[j] = (float)(lo - 16) * d;
                y[j + 16] = (float)(hi - 16) * d;
            }
        }
    }
}

void ferry_rows_q5_0_to(const void *x, float *y, uint64_t n)
{
    q5_to(x, y, n, 0);
}
void ferry_rows_q5_1_to(const void *x, float *y, uint64_t n)
{
    q5_to(x, y, n, 1);
}

void ferry_rows_q5_0_from(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / QK; i++, b += 22, x += QK) {
        const float d = absmax_signed(x) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ferry_fp16_put_le(b, d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int a = (int8_t)trunc_x86(x[j] * id + 16.5f),
                c = (int8_t)trunc_x86(x[j + 16] * id + 16.5f);
            a = a < 31 ? a : 31;
            c = c < 31 ? c : 31;
            b[6 + j] = (uint8_t)((a & 0x0f) | (c & 0x0f) << 4);
            qh |= (uint32_t)((a & 0x10) >> 4) << j;
            qh |= (uint32_t)((c & 0x10) >> 4) << (j + 16);
        }
        wr32(b + 2, qh);
    }
}

void ferry_rows_q5_1_from(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / QK; i++, b += 24, x += QK) {
        float mn, mx;
        minmax(x, &mn, &mx);
        const float d = (mx - mn) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ferry_fp16_put_le(b, d);
        ferry_fp16_put_le(b + 2, mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            uint8_t a = (uint8_t)trunc_x86((x[j] - mn) * id + 0.5f),
                    c = (uint8_t)trunc_x86((x[j + 16] - mn) * id + 0.5f);
            b[8 + j] = (uint8_t)((a & 0x0f) | (c & 0x0f) << 4);
            qh |= (uint32_t)((a & 0x10) >> 4) << j;
            qh |= (uint32_t)((c & 0x10) >> 4) << (j + 16);
        }
        wr32(b + 4, qh);
    }
}

/* ---- 256-element super-blocks (dequantization) ---- */
void ferry_rows_q2_k_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* scales[16] qs[64] d dmin */
    for (uint64_t i = 0; i < n / QKK; i++, b += 84, y += QKK) {
        float d = ferry_fp16_le(b + 80), dmin = ferry_fp16_le(b + 82);
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b + 16 + 32 * half;
            for (int k = 0; k < 4; k++) /* 2-bit plane k */
                for (int l = 0; l < 32; l++) {
                    uint8_t sc = b[8 * half + 2 * k + l / 16];
                    y[128 * half + 32 * k + l] =
                        d * (float)(sc & 0x0f) * (float)((q[l] >> (2 * k)) & 3) -
                        dmin * (float)(sc >> 4);
                }
        }
    }
}

static int q3_k_scale(const uint8_t *s, int is)
{
    int v = is < 4    ? (s[is] & 0x0f) | ((s[is + 8] & 3) << 4)
            : is < 8  ? (s[is] & 0x0f) | (((s[is + 4] >> 2) & 3) << 4)
            : is < 12 ? (s[is - 8] >> 4) | (((s[is] >> 4) & 3) << 4)
                      : (s[is - 8] >> 4) | (((s[is - 4] >> 6) & 3) << 4);
    return v - 32;
}

void ferry_rows_q3_k_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* hmask[32] qs[64] scales[12] d */
    for (uint64_t i = 0; i < n / QKK; i++, b += 110, y += QKK) {
        float d = ferry_fp16_le(b + 108);
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b + 32 + 32 * half;
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) {
                    int is = 8 * half + 2 * k + l / 16;
                    int m = 1 << (4 * half + k);
                    int v = ((q[l] >> (2 * k)) & 3) - ((b[l] & m) ? 0 : 4);
                    y[128 * half + 32 * k + l] = d * (float)q3_k_scale(b + 96, is) * (float)v;
                }
        }
    }
}

/* 6-bit scale and min j of the 12-byte packed array of Q4_K and Q5_K */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

void ferry_rows_q4_k_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d dmin scales[12] qs[128] */
    for (uint64_t i = 0; i < n / QKK; i++, b += 144, y += QKK) {
        float d = ferry_fp16_le(b), dmin = ferry_fp16_le(b + 2);
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = b + 16 + 32 * g;
            int s1, m1, s2, m2;
            scale_min_k4(2 * g, b + 4, &s1, &m1);
            scale_min_k4(2 * g + 1, b + 4, &s2, &m2);
            for (int l = 0; l < 32; l++) {
                y[64 * g + l] = d * (float)s1 * (float)(q[l] & 0x0f) - dmin * (float)m1;
                y[64 * g + 32 + l] = d * (float)s2 * (float)(q[l] >> 4) - dmin * (float)m2;
            }
        }
    }
}

void ferry_rows_q5_k_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* d dmin scales[12] qh[32] qs[128] */
    for (uint64_t i = 0; i < n / QKK; i++, b += 176, y += QKK) {
        float d = ferry_fp16_le(b), dmin = ferry_fp16_le(b + 2);
        const uint8_t *qh = b + 16;
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = b + 48 + 32 * g;
            int s1, m1, s2, m2;
            scale_min_k4(2 * g, b + 4, &s1, &m1);
            scale_min_k4(2 * g + 1, b + 4, &s2, &m2);
            for (int l = 0; l < 32; l++) {
                int lo = (q[l] & 0x0f) + ((qh[l] >> (2 * g)) & 1) * 16;
                int hi = (q[l] >> 4) + ((qh[l] >> (2 * g + 1)) & 1) * 16;
                y[64 * g + l] = d * (float)s1 * (float)lo - dmin * (float)m1;
                y[64 * g + 32 + l] = d * (float)s2 * (float)hi - dmin * (float)m2;
            }
        }
    }
}

void ferry_rows_q6_k_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x; /* ql[128] qh[64] scales[16] d */
    for (uint64_t i = 0; i < n / QKK; i++, b += 210, y += QKK) {
        float d = ferry_fp16_le(b + 208);
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
            const int8_t *s = sc + 8 * half;
            float *o = y + 128 * half;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * (float)s[is] * (float)q1;
                o[l + 32] = d * (float)s[is + 2] * (float)q2;
                o[l + 64] = d * (float)s[is + 4] * (float)q3;
                o[l + 96] = d * (float)s[is + 6] * (float)q4;
            }
        }
    }
}

#define INT_TO(name, T)                                                                            \
    void name(const void *x, float *y, uint64_t n)                                                 \
    {                                                                                              \
        for (uint64_t i = 0; i < n; i++) {                                                         \
            T v;                                                                                   \
            memcpy(&v, (const uint8_t *)x + sizeof(T) * i, sizeof(T));                             \
            y[i] = (float)v;                                                                       \
        }                                                                                          \
    }
INT_TO(ferry_rows_i8_to, int8_t)
INT_TO(ferry_rows_i16_to, int16_t)
INT_TO(ferry_rows_i32_to, int32_t)
INT_TO(ferry_rows_i64_to, int64_t)
INT_TO(ferry_rows_u8_to, uint8_t)
INT_TO(ferry_rows_u16_to, uint16_t)
INT_TO(ferry_rows_u32_to, uint32_t)
INT_TO(ferry_rows_u64_to, uint64_t)

void ferry_rows_bool_to(const void *x, float *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) y[i] = ((const uint8_t *)x)[i] ? 1.f : 0.f;
}

int ferry_can_read(enum ferry_dtype dt)
{
    return ferry_dtype_lookup(dt)->to_float != NULL;
}

int ferry_can_write(enum ferry_dtype dt)
{
    return ferry_dtype_lookup(dt)->from_float != NULL;
}

int ferry_to_float(enum ferry_dtype dt, const void *x, float *y, uint64_t n)
{
    if (!ferry_can_read(dt) || n % ferry_dtype_lookup(dt)->blck) return -1;
    ferry_dtype_lookup(dt)->to_float(x, y, n);
    return 0;
}

int ferry_from_float(enum ferry_dtype dt, const float *x, void *y, uint64_t n)
{
    if (!ferry_can_write(dt) || n % ferry_dtype_lookup(dt)->blck) return -1;
    ferry_dtype_lookup(dt)->from_float(x, y, n);
    return 0;
}

int ferry_from_float_weighted(enum ferry_dtype dt, const float *x, void *y, uint64_t n,
                              const float *w)
{
    const struct ferry_dtype_info *d = ferry_dtype_lookup(dt);
    if (!d->from_float_w || !w) return ferry_from_float(dt, x, y, n);
    if (n % d->blck) return -1;
    d->from_float_w(x, y, n, w);
    return 0;
}
