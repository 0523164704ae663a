/* Half-precision conversions. The F16 path is bit-exact IEEE 754 round-to-nearest-even
 * (what F16C's vcvtps2ph with imm 0 and ggml's software fallback produce). */
#include "ferry/half.h"
#include "ferry/cpu.h"

#include <string.h>

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ferry_fp32_to_fp16(float f)
{
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* Inf or NaN: keep a quiet NaN payload bit */
        return (uint16_t)(sign | 0x7c00u |
                          (ax > 0x7f800000u ? 0x0200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) {                /* result is subnormal or zero */
        if (ax < 0x33000000u) return sign; /* below half the smallest subnormal */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    /* normal: rebias exponent, round 13 dropped bits to nearest even */
    uint32_t r = ax - 0x38000000u; /* exponent 127 -> 15 */
    uint32_t q = r >> 13;
    uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

float ferry_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f) return u2f(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return u2f(sign);
        /* subnormal: value = m * 2^-24 exactly representable in f32 */
        float v = (float)m * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return u2f(sign | ((e + 112u) << 23) | (m << 13));
}

uint16_t ferry_fp32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64u); /* quiet NaN */
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

float ferry_bf16_to_fp32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
/* F16C rounds to nearest even exactly like the scalar code above (imm 0); chosen at run time */
__attribute__((target("f16c,avx"))) static void to_fp16_f16c(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0));
    for (; i < n; i++) y[i] = ferry_fp32_to_fp16(x[i]);
}

__attribute__((target("f16c,avx"))) static void from_fp16_f16c(const uint16_t *x, float *y,
                                                               size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = ferry_fp16_to_fp32(x[i]);
}

static int have_f16c(void)
{
    return ferry_cpu_detect()->f16c;
}
#else
static int have_f16c(void)
{
    return 0;
}
#define to_fp16_f16c(x, y, n)   (void)0
#define from_fp16_f16c(x, y, n) (void)0
#endif

void ferry_fp32_to_fp16_row(const float *x, uint16_t *y, size_t n)
{
    if (have_f16c()) {
        to_fp16_f16c(x, y, n);
        return;
    }
    for (size_t i = 0; i < n; i++) y[i] = ferry_fp32_to_fp16(x[i]);
}

void ferry_fp16_to_fp32_row(const uint16_t *x, float *y, size_t n)
{
    if (have_f16c()) {
        from_fp16_f16c(x, y, n);
        return;
    }
    for (size_t i = 0; i < n; i++) y[i] = ferry_fp16_to_fp32(x[i]);
}

void ferry_fp32_to_bf16_row(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = ferry_fp32_to_bf16(x[i]);
}

void ferry_bf16_to_fp32_row(const uint16_t *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = ferry_bf16_to_fp32(x[i]);
}
