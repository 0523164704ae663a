/* The IQ4 quantizers as llama-quantize runs them (ggml's quantize_iq4_nl / quantize_iq4_xs,
 * seven scale trials each way): per 32 values, the weighted least-squares scale of the best of
 * 15 trial scales around max/-127 over the 16 non-linear levels (weights x^2, or with an
 * importance matrix qw * sqrt(sigma2 + x^2)); IQ4_NL stores that scale in fp16, IQ4_XS eight of
 * them as 6-bit multiples of a fp16 super-block scale, and each value takes its nearest level
 * under the scale as it is used. */
#include "ferry/half.h"
#include "quant_lut.h"

#include <math.h>
#include <string.h>

#define GROUP_MAX_EPS 1e-15f

/* the 16 levels of ferry_iq4nl_levels as floats, this file's own constant for the inner loops */
static const float lv[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                             1,    13,   25,  38,  53,  69,  89,  113};

/* index of the level nearest to v, the lower one on a tie: ggml's best_index_int8, whose
 * binary search ends at the first level above v; counting the levels at or below v finds the
 * same place without its unpredictable branches (the result is the same for every float) */
static int nearest_level(float v)
{
    if (v <= lv[0]) return 0;
    if (v >= lv[15] || v != v) return 15; /* NaN: where ggml's search ends too */
    int hi = 0;
    for (int k = 0; k < 16; k++) hi += lv[k] <= v;
    return v - lv[hi - 1] < lv[hi] - v ? hi - 1 : hi;
}

static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* sum w*q*x and sum w*q*q over 32 values, q the nearest levels of id*x */
static void fit(const float *x, const float *w, float id, float *sqx, float *sq2)
{
    float a = 0, b = 0;
    for (int j = 0; j < 32; j++) {
        float q = lv[nearest_level(id * x[j])];
        a += w[j] * q * x[j];
        b += w[j] * q * q;
    }
    *sqx = a;
    *sq2 = b;
}

/* the scale of 32 values x with weights w (0 for an all-zero block) */
static float block_scale(const float *x, const float *w)
{
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
    if (amax < GROUP_MAX_EPS) return 0.f;
    float sqx, sq2;
    fit(x, w, 1 / (-max / lv[0]), &sqx, &sq2);
    float d = sq2 > 0 ? sqx / sq2 : 0.f, best = d * sqx;
    for (int t = -7; t <= 7; t++) {
        fit(x, w, (float)(t - 127) / max, &sqx, &sq2); /* t + levels[0] */
        if (sq2 > 0 && sqx * sqx > best * sq2) {
            d = sqx / sq2;
            best = d * sqx;
        }
    }
    return d;
}

/* weights of the 32 values at x: x^2, or qw * sqrt(sigma2 + x^2) */
static void weights(const float *x, const float *qw, float sigma2, float *w)
{
    for (int j = 0; j < 32; j++) w[j] = qw ? qw[j] * sqrtf(sigma2 + x[j] * x[j]) : x[j] * x[j];
}

static float spread(const float *x, int n) /* ggml's sigma2: 2 * mean square */
{
    float s = 0;
    for (int j = 0; j < n; j++) s += x[j] * x[j];
    return s * (2.f / (float)n);
}

/* 16 bytes of 32 levels of x under 1/id: low nibbles the first 16 */
static void levels(const float *x, float id, uint8_t *qs)
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(nearest_level(id * x[j]) | nearest_level(id * x[j + 16]) << 4);
}

static void iq4_nl(const float *x, void *y, uint64_t n, const float *qw)
{
    uint8_t *b = y;
    float w[32];
    for (uint64_t i = 0; i < n / 32; i++, b += 18, x += 32, qw = qw ? qw + 32 : NULL) {
        weights(x, qw, qw ? spread(x, 32) : 0.f, w);
        float d = block_scale(x, w);
        ferry_fp16_put_le(b, d);
        levels(x, d != 0 ? 1 / d : 0, b + 2);
    }
}

/* d, scales_h (2 bits of each 6-bit scale), scales_l[4] (low nibbles), qs[128]; 136 bytes */
static void iq4_xs(const float *x, void *y, uint64_t n, const float *qw)
{
    uint8_t *b = y;
    float w[32], scales[8];
    for (uint64_t i = 0; i < n / 256; i++, b += 136, x += 256, qw = qw ? qw + 256 : NULL) {
        float sigma2 = qw ? spread(x, 256) : 0.f, max_scale = 0, amax = 0;
        for (int ib = 0; ib < 8; ib++) {
            weights(x + 32 * ib, qw ? qw + 32 * ib : NULL, sigma2, w);
            scales[ib] = block_scale(x + 32 * ib, w);
            if (fabsf(scales[ib]) > amax) amax = fabsf(scales[ib]), max_scale = scales[ib];
        }
        float d = -max_scale / 32, id = d != 0 ? 1 / d : 0.f;
        unsigned sh = 0;
        memset(b + 4, 0, 4);
        ferry_fp16_put_le(b, d);
        for (int ib = 0; ib < 8; ib++) {
            int l = nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl = d * (float)l; /* the unrounded super-block scale, as ggml uses it */
            levels(x + 32 * ib, dl != 0 ? 1 / dl : 0.f, b + 8 + 16 * ib);
            l += 32;
            b[4 + ib / 2] |= (uint8_t)((l & 0xf) << (4 * (ib % 2)));
            sh |= (unsigned)(l >> 4) << (2 * ib);
        }
        b[2] = (uint8_t)sh;
        b[3] = (uint8_t)(sh >> 8);
    }
}

void ferry_quantize_iq4_nl(const float *x, void *y, uint64_t n)
{
    iq4_nl(x, y, n, NULL);
}

void ferry_quantize_iq4_nl_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq4_nl(x, y, n, qw);
}

void ferry_quantize_iq4_xs(const float *x, void *y, uint64_t n)
{
    iq4_xs(x, y, n, NULL);
}

void ferry_quantize_iq4_xs_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq4_xs(x, y, n, qw);
}
