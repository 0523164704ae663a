/* Decoding of the 8-bit float formats safetensors carries (OCP FP8 and its variants), exactly,
 * by their definitions:
 *   F8_E4M3      (torch float8_e4m3fn)   bias 7, no infinities, S.1111.111 is NaN, max 448
 *   F8_E5M2      (float8_e5m2)           the top byte of an IEEE half: bias 15, inf and NaN
 *   F8_E4M3FNUZ  (float8_e4m3fnuz)       bias 8, no -0: 0x80 is the only NaN, no infinities
 *   F8_E5M2FNUZ  (float8_e5m2fnuz)       bias 16, the same NaN rule
 *   F8_E8M0      (float8_e8m0fnu)        an unsigned power of two 2^(b-127), 0xFF is NaN
 * Subnormals (exponent field 0) are m / 2^mbits * 2^(1 - bias). */
#include "float8.h"
#include "ferry/half.h"

#include <math.h>

static float minifloat(uint8_t b, int mbits, int bias)
{
    int e = (b & 0x7f) >> mbits, m = b & ((1 << mbits) - 1);
    float v = e ? ldexpf((float)((1 << mbits) | m), e - bias - mbits)
                : ldexpf((float)m, 1 - bias - mbits);
    return b & 0x80 ? -v : v;
}

void ferry_f8_e4m3_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n; i++)
        y[i] = (b[i] & 0x7f) == 0x7f ? (b[i] & 0x80 ? -NAN : NAN) : minifloat(b[i], 3, 7);
}

void ferry_f8_e5m2_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n; i++) y[i] = ferry_fp16_to_fp32((uint16_t)(b[i] << 8));
}

void ferry_f8_e4m3fnuz_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n; i++) y[i] = b[i] == 0x80 ? NAN : minifloat(b[i], 3, 8);
}

void ferry_f8_e5m2fnuz_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n; i++) y[i] = b[i] == 0x80 ? NAN : minifloat(b[i], 2, 16);
}

void ferry_f8_e8m0_to(const void *x, float *y, uint64_t n)
{
    const uint8_t *b = x;
    for (uint64_t i = 0; i < n; i++) y[i] = b[i] == 0xff ? NAN : ldexpf(1.f, b[i] - 127);
}
