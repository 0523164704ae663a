/* Quantizers that take an importance weight per column (llama-imatrix's mean squared
 * activation entering each weight): the algorithms llama.cpp runs when llama-quantize is given
 * an imatrix (its quantize_row_<type>_impl), so the bytes equal llama.cpp's for the same
 * weights. One call quantizes one row of n values with its n weights: the legacy types weigh
 * by the row's spread, the K types by each 256-value super-block's. Every sum is taken in
 * ggml's order and this file is built without FMA contraction, as ggml's reference is. */
#include "ferry/half.h"
#include "quant_k.h"
#include "quant_weighted.h"

#include <math.h>
#include <string.h>

#define QKK           256
#define GROUP_MAX_EPS 1e-15f

static inline int nearest_int(float f) /* round half to even, |f| < 2^22 (ggml's trick) */
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Signed scale for n values into [-nmax, nmax-1] minimising the weighted error: from the
 * largest magnitude, then 18 nearby trial scales (ggml's make_qx_quants, rmse_type 1, with
 * weights). L gets level + nmax. */
static float qx_w(int n, int nmax, const float *x, int8_t *L, const float *w)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)-nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)l * (float)l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            sumlx += w[i] * x[i] * (float)l;
            suml2 += w[i] * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Scale and minimum for n values into [0, nmax] minimising the weighted squared error over
 * nstep+1 trial scales, each solved by weighted least squares (ggml's make_qkx3_quants).
 * *the_min gets the negated minimum. */
static float qkx3_w(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                    float rmin, float rdelta, int nstep)
{
    uint8_t Laux[32];
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        best += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float mad = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)Laux[i] + this_min - x[i];
            mad += w[i] * (diff * diff);
        }
        if (mad < best) {
            memcpy(L, Laux, (size_t)n);
            best = mad;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Unsigned scale for n non-negative values (sub-block scales or minimums) into [0, nmax]:
 * 9 trial scales, then up to five rounds moving single levels while the weighted fit improves
 * (ggml's make_qp_quants). */
float ferry_quant_qp_w(int n, int nmax, const float *x, uint8_t *L, const float *w)
{
    float max = 0;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (max < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)nmax / max, scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)nearest_int(iscale * x[i]);
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * (float)L[i];
        best += w[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        float iscale_is = (0.1f * (float)is + (float)nmax) / max, scale_is = 1 / iscale_is, mse = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale_is * x[i]);
            l = l < nmax ? l : nmax;
            float diff = x[i] - scale_is * (float)l;
            mse += w[i] * diff * diff;
        }
        if (mse < best) best = mse, iscale = iscale_is;
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = (uint8_t)l; /* a negative level wraps, as in ggml's uint8_t */
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)l * (float)l;
    }
    for (int round = 0; round < 5; round++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float slx = sumlx - w[i] * x[i] * (float)L[i];
            float sl2 = suml2 - w[i] * (float)L[i] * (float)L[i];
            if (!(slx > 0 && sl2 > 0)) continue;
            int nl = nearest_int(x[i] * sl2 / slx);
            nl = nl < nmax ? nl : nmax;
            if (nl == L[i]) continue;
            slx += w[i] * x[i] * (float)nl;
            sl2 += w[i] * (float)nl * (float)nl;
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (uint8_t)nl, sumlx = slx, suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* a row's mean square, the weight's floor for the legacy types */
static float row_sigma2(const float *x, uint64_t n)
{
    float s = 0;
    for (uint64_t j = 0; j < n; j++) s += x[j] * x[j];
    return s / (float)n;
}

/* 32 weights: the importance times sqrt(sigma2 + x^2) */
static void block_weights(const float *x, const float *qw, float sigma2, float *w, int n)
{
    for (int j = 0; j < n; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

static void pack_nibbles(uint8_t *qs, const uint8_t *L)
{
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] & 0xf) | ((L[j + 16] & 0xf) << 4));
}

static void pack_fifth_bits(uint8_t *qh, const uint8_t *L)
{
    uint32_t h = 0;
    for (int j = 0; j < 16; j++)
        h |= (uint32_t)((L[j] & 0x10u) >> 4) << j | (uint32_t)((L[j + 16] & 0x10u) >> 4)
                                                        << (j + 16);
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* Q4_0 (nmax 8) and Q5_0 (nmax 16): d, [qh,] qs */
static void legacy_signed(const float *x, uint8_t *b, uint64_t n, const float *qw, int nmax)
{
    float sigma2 = row_sigma2(x, n), w[32];
    int8_t L[32];
    size_t bsize = nmax == 8 ? 18 : 22;
    for (uint64_t ib = 0; ib < n / 32; ib++, b += bsize, x += 32, qw += 32) {
        block_weights(x, qw, sigma2, w, 32);
        ferry_fp16_put_le(b, qx_w(32, nmax, x, L, w));
        if (nmax == 16) pack_fifth_bits(b + 2, (const uint8_t *)L);
        pack_nibbles(b + bsize - 16, (const uint8_t *)L);
    }
}

/* Q4_1 (nmax 15) and Q5_1 (nmax 31): d, m, [qh,] qs */
static void legacy_min(const float *x, uint8_t *b, uint64_t n, const float *qw, int nmax)
{
    float sigma2 = row_sigma2(x, n), w[32], min;
    uint8_t L[32];
    size_t bsize = nmax == 15 ? 20 : 24;
    for (uint64_t ib = 0; ib < n / 32; ib++, b += bsize, x += 32, qw += 32) {
        block_weights(x, qw, sigma2, w, 32);
        float d = qkx3_w(32, nmax, x, w, L, &min, -0.9f, 0.05f, 36);
        ferry_fp16_put_le(b, d);
        ferry_fp16_put_le(b + 2, -min);
        if (nmax == 31) pack_fifth_bits(b + 4, L);
        pack_nibbles(b + bsize - 16, L);
    }
}

void ferry_quantize_q4_0_w(const float *x, void *y, uint64_t n, const float *qw)
{
    legacy_signed(x, y, n, qw, 8);
}

void ferry_quantize_q5_0_w(const float *x, void *y, uint64_t n, const float *qw)
{
    legacy_signed(x, y, n, qw, 16);
}

void ferry_quantize_q4_1_w(const float *x, void *y, uint64_t n, const float *qw)
{
    legacy_min(x, y, n, qw, 15);
}

void ferry_quantize_q5_1_w(const float *x, void *y, uint64_t n, const float *qw)
{
    legacy_min(x, y, n, qw, 31);
}

static float block_sum_x2(const float *x)
{
    float s = 0;
    for (int l = 0; l < QKK; l++) s += x[l] * x[l];
    return s;
}

static float sum_n(const float *w, int n)
{
    float s = 0;
    for (int l = 0; l < n; l++) s += w[l];
    return s;
}

void ferry_quantize_q2_k_w(const float *x, void *y, uint64_t n, const float *qw)
{
    uint8_t *b = y, L[QKK], Ls[16], Lm[16];
    for (uint64_t i = 0; i < n / QKK; i++, b += 84, x += QKK, qw += QKK) {
        float sigma2 = block_sum_x2(x) / QKK, w[16], sw[16], scales[16], mins[16];
        for (int j = 0; j < 16; j++) {
            block_weights(x + 16 * j, qw + 16 * j, sigma2, w, 16);
            sw[j] = sum_n(w, 16);
            scales[j] = qkx3_w(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.9f, 0.05f, 36);
        }
        float dm = ferry_quant_qp_w(16, 15, scales, Ls, sw),
              mm = ferry_quant_qp_w(16, 15, mins, Lm, sw);
        ferry_fp16_put_le(b + 80, dm);
        ferry_fp16_put_le(b + 82, mm);
        for (int j = 0; j < 16; j++) b[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        ferry_kq_finish_q2(x, b, L);
    }
}

void ferry_quantize_q3_k_w(const float *x, void *y, uint64_t n, const float *qw)
{
    uint8_t *b = y;
    int8_t L[QKK], Ls[16];
    for (uint64_t i = 0; i < n / QKK; i++, b += 110, x += QKK, qw += QKK) {
        float sigma2 = 2 * block_sum_x2(x) / QKK, w[16], sw[16], scales[16];
        for (int j = 0; j < 16; j++) {
            block_weights(x + 16 * j, qw + 16 * j, sigma2, w, 16);
            sw[j] = sum_n(w, 16);
            scales[j] = qx_w(16, 4, x + 16 * j, L + 16 * j, w);
        }
        uint8_t *s = b + 96;
        memset(s, 0, 12);
        float d_block = qx_w(16, 32, scales, Ls, sw);
        for (int j = 0; j < 16; j++) {
            int l = Ls[j];
            if (j < 8)
                s[j] = (uint8_t)(l & 0xf);
            else
                s[j - 8] |= (uint8_t)((l & 0xf) << 4);
            s[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        ferry_fp16_put_le(b + 108, d_block);
        ferry_kq_finish_q3(x, b, L);
    }
}

/* Q4_K (nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32 with scale and minimum each */
static void kq_min_w(const float *x, uint8_t *b, const float *qw, uint8_t *L, int nmax)
{
    float sigma2 = 2 * block_sum_x2(x) / QKK, w[32], sw[8], scales[8], mins[8];
    uint8_t Ls[8], Lm[8];
    for (int j = 0; j < 8; j++) {
        block_weights(x + 32 * j, qw + 32 * j, sigma2, w, 32);
        sw[j] = sum_n(w, 32);
        scales[j] = qkx3_w(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], -0.9f, 0.05f, 36);
    }
    float d_block = ferry_quant_qp_w(8, 63, scales, Ls, sw),
          m_block = ferry_quant_qp_w(8, 63, mins, Lm, sw);
    for (int j = 0; nmax == 31 && j < 8; j++) { /* only ggml's Q5_K caps a wrapped level */
        Ls[j] = Ls[j] < 63 ? Ls[j] : 63;
        Lm[j] = Lm[j] < 63 ? Lm[j] : 63;
    }
    memset(b + 4, 0, 12);
    ferry_kq_pack_scales(b + 4, Ls, Lm);
    ferry_fp16_put_le(b, d_block);
    ferry_fp16_put_le(b + 2, m_block);
    ferry_kq_relevel(x, b, L, nmax);
}

void ferry_quantize_q4_k_w(const float *x, void *y, uint64_t n, const float *qw)
{
    uint8_t *b = y, L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 144, x += QKK, qw += QKK) {
        kq_min_w(x, b, qw, L, 15);
        ferry_kq_store_q4(b, L);
    }
}

void ferry_quantize_q5_k_w(const float *x, void *y, uint64_t n, const float *qw)
{
    uint8_t *b = y, L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 176, x += QKK, qw += QKK) {
        kq_min_w(x, b, qw, L, 31);
        ferry_kq_store_q5(b, L);
    }
}

/* Q6_K weighs by the importance alone (ggml's impl leaves the spread term out) */
void ferry_quantize_q6_k_w(const float *x, void *y, uint64_t n, const float *qw)
{
    uint8_t *b = y;
    int8_t L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 210, x += QKK, qw += QKK) {
        float scales[16];
        for (int ib = 0; ib < 16; ib++)
            scales[ib] = qx_w(16, 32, x + 16 * ib, L + 16 * ib, qw + 16 * ib);
        ferry_kq_finish_q6(x, b, scales, L);
    }
}
