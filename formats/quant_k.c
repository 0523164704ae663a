/* K-quant quantizers (Q2_K to Q6_K) following llama.cpp's reference algorithms (the ones used
 * without an importance matrix): per 16- or 32-element sub-block a weighted search for scale
 * and minimum (Q2_K, Q4_K, Q5_K) or for a signed scale (Q3_K, Q6_K), then 4-, 6- or 8-bit
 * quantized scales under a fp16 super-block scale, and the quants recomputed with the scales
 * as stored. */
#include "ferry/half.h"
#include "quant_k.h"

#include <math.h>
#include <string.h>

#define QKK 256

/* round to nearest, ties to even, for |f| < 2^22 (the float trick of ggml) */
static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Four sub-blocks side by side, one per vector lane (GCC/clang vector extensions, one SSE
 * register: x86-64's baseline). Every operation is element-wise IEEE arithmetic, so each lane
 * computes exactly what the scalar code would for its sub-block. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f ld4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline v4i ldi4(const int32_t *p)
{
    v4i v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline v4f sel4(v4i m, v4f a, v4f b) /* m ? a : b, lane by lane */
{
    return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
}

static inline v4i nearest4(v4f f)
{
    v4i i = (v4i)(f + 12582912.f);
    return (i & 0x007fffff) - 0x00400000;
}

static inline v4i clamp4(v4i l, int nmax) /* l < 0 ? 0 : l > nmax ? nmax : l */
{
    l &= ~(l < 0);
    v4i big = l > nmax;
    return (l & ~big) | (nmax & big);
}

static inline v4f err4(v4f d, int use_mad)
{
    return use_mad ? (v4f)((v4i)d & 0x7fffffff) : d * d;
}

/* Weighted least-squares scale and min into [0, nmax] for 4 sub-blocks of n <= 32 values (x
 * and w: sub-block j at j*n; L gets the levels there): ggml's make_qkx2_quants per lane, every
 * sum in its scalar order, on data transposed to (value, sub-block). */
static void qkx2(int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale,
                 float *the_min, float rmin, float rdelta, int nstep, int use_mad)
{
    float xt[32 * 4], wt[32 * 4];
    int32_t Lt[32 * 4], La[32 * 4];
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < n; i++) xt[i * 4 + j] = x[j * n + i], wt[i * 4 + j] = w[j * n + i];
    const v4f zero = {0};
    v4f mn = ld4(xt), mx = mn, sw = ld4(wt), sx = sw * mn;
    for (int i = 1; i < n; i++) {
        v4f v = ld4(xt + 4 * i), wv = ld4(wt + 4 * i);
        mn = sel4(v < mn, v, mn);
        mx = sel4(v > mx, v, mx);
        sw += wv;
        sx += wv * v;
    }
    mn = sel4(mn > 0.f, zero, mn);
    v4i flat = mx == mn;
    v4f isc = (float)nmax / (mx - mn), sc = 1.f / isc, best = zero;
    for (int i = 0; i < n; i++) {
        v4f v = ld4(xt + 4 * i);
        v4i l = clamp4(nearest4(isc * (v - mn)), nmax);
        memcpy(Lt + 4 * i, &l, sizeof(l));
        v4f d = sc * __builtin_convertvector(l, v4f) + mn - v;
        best += ld4(wt + 4 * i) * err4(d, use_mad);
    }
    for (int is = 0; is <= nstep; is++) {
        isc = (rmin + rdelta * (float)is + (float)nmax) / (mx - mn);
        v4f sl = zero, sl2 = zero, sxl = zero;
        for (int i = 0; i < n; i++) {
            v4f v = ld4(xt + 4 * i), wv = ld4(wt + 4 * i);
            v4i l = clamp4(nearest4(isc * (v - mn)), nmax);
            memcpy(La + 4 * i, &l, sizeof(l));
            v4f lf = __builtin_convertvector(l, v4f);
            sl += wv * lf;
            sl2 += wv * lf * lf;
            sxl += wv * lf * v;
        }
        v4f D = sw * sl2 - sl * sl;
        v4f s = (sw * sxl - sx * sl) / D, m = (sl2 * sx - sl * sxl) / D;
        v4i pos = m > 0.f;
        s = sel4(pos, sxl / sl2, s);
        m = sel4(pos, zero, m);
        v4f err = zero;
        for (int i = 0; i < n; i++) {
            v4f d = s * __builtin_convertvector(ldi4(La + 4 * i), v4f) + m - ld4(xt + 4 * i);
            err += ld4(wt + 4 * i) * err4(d, use_mad);
        }
        v4i up = ~(D <= 0.f) & (err < best); /* ggml skips a trial with D <= 0 (not a NaN D) */
        best = sel4(up, err, best);
        sc = sel4(up, s, sc);
        mn = sel4(up, m, mn);
        for (int i = 0; i < n; i++) {
            v4i a = ldi4(La + 4 * i), b = ldi4(Lt + 4 * i), c = (a & up) | (b & ~up);
            memcpy(Lt + 4 * i, &c, sizeof(c));
        }
    }
    sc = sel4(flat, zero, sc); /* a flat sub-block: levels 0, scale 0, its clamped minimum */
    for (int j = 0; j < 4; j++) {
        scale[j] = sc[j];
        the_min[j] = -mn[j];
        for (int i = 0; i < n; i++) L[j * n + i] = (uint8_t)(flat[j] ? 0 : Lt[i * 4 + j]);
    }
}

static inline v4i clamp_signed4(v4i l, int nmax) /* into [-nmax, nmax - 1] */
{
    v4i lo = l < -nmax;
    l = (l & ~lo) | (-nmax & lo);
    v4i hi = l > nmax - 1;
    return (l & ~hi) | ((nmax - 1) & hi);
}

/* Signed scale into [-nmax, nmax-1] weighted by x^2 for 4 sub-blocks of n <= 32 values (x:
 * sub-block j at j*n; L gets level + nmax there): ggml's make_qx_quants (rmse_type 1) per lane,
 * on data transposed to (value, sub-block). */
static void qx(int n, int nmax, const float *x, int8_t *L, float *scale)
{
    float xt[32 * 4];
    int32_t Lt[32 * 4], La[32 * 4];
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < n; i++) xt[i * 4 + j] = x[j * n + i];
    const v4f zero = {0};
    v4f mx = zero, amax = zero;
    for (int i = 0; i < n; i++) {
        v4f v = ld4(xt + 4 * i), av = (v4f)((v4i)v & 0x7fffffff);
        v4i gt = av > amax;
        amax = sel4(gt, av, amax);
        mx = sel4(gt, v, mx);
    }
    v4i tiny = amax < 1e-15f;
    v4f isc = -(float)nmax / mx, slx = zero, sl2 = zero;
    for (int i = 0; i < n; i++) {
        v4f v = ld4(xt + 4 * i), lf;
        v4i l = clamp_signed4(nearest4(isc * v), nmax);
        memcpy(Lt + 4 * i, &l, sizeof(l));
        lf = __builtin_convertvector(l, v4f);
        v4f w = v * v;
        slx += w * v * lf;
        sl2 += w * lf * lf; /* ggml: w*l*l, two roundings */
    }
    v4f sc = sel4(sl2 != 0.f, slx / sl2, zero), best = sc * slx;
    for (int is = -9; is <= 9; is++) {
        if (!is) continue;
        isc = -((float)nmax + 0.1f * (float)is) / mx;
        slx = sl2 = zero;
        for (int i = 0; i < n; i++) {
            v4f v = ld4(xt + 4 * i);
            v4i l = clamp_signed4(nearest4(isc * v), nmax);
            memcpy(La + 4 * i, &l, sizeof(l));
            v4f lf = __builtin_convertvector(l, v4f), w = v * v;
            slx += w * v * lf;
            sl2 += w * lf * lf;
        }
        v4i up = (sl2 > 0.f) & (slx * slx > best * sl2);
        sc = sel4(up, slx / sl2, sc);
        best = sel4(up, sc * slx, best);
        for (int i = 0; i < n; i++) {
            v4i u = ldi4(La + 4 * i), t = ldi4(Lt + 4 * i), c = (u & up) | (t & ~up);
            memcpy(Lt + 4 * i, &c, sizeof(c));
        }
    }
    for (int j = 0; j < 4; j++) {
        scale[j] = tiny[j] ? 0.f : sc[j];
        for (int i = 0; i < n; i++) L[j * n + i] = (int8_t)(tiny[j] ? 0 : Lt[i * 4 + j] + nmax);
    }
}

/* 8 scales and 8 mins of 6 bits in the 12-byte layout of Q4_K and Q5_K */
void ferry_kq_pack_scales(uint8_t *s, const uint8_t *ls, const uint8_t *lm)
{
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xf) | ((lm[j] & 0xf) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

static void unpack_scale(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Shared part of Q4_K (nmax 15) and Q5_K (nmax 31): levels L[256] and the header. */
static void kquant_levels(const float *x, uint8_t *hdr, uint8_t *L, int nmax, float rmin, int nstep)
{
    float scales[8], mins[8], w[QKK], max_scale = 0, max_min = 0;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        float sum2 = 0;
        for (int l = 0; l < 32; l++) sum2 += x[32 * j + l] * x[32 * j + l];
        float av = sqrtf(sum2 / 32);
        for (int l = 0; l < 32; l++) w[32 * j + l] = av + fabsf(x[32 * j + l]);
    }
    for (int g = 0; g < 2; g++)
        qkx2(32, nmax, x + 128 * g, w + 128 * g, L + 128 * g, scales + 4 * g, mins + 4 * g, rmin,
             0.1f, nstep, 0);
    for (int j = 0; j < 8; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_s = max_scale > 0 ? 63.f / max_scale : 0.f,
          inv_m = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        int a = nearest_int(inv_s * scales[j]), b = nearest_int(inv_m * mins[j]);
        ls[j] = (uint8_t)(a > 63 ? 63 : a);
        lm[j] = (uint8_t)(b > 63 ? 63 : b);
    }
    memset(hdr + 4, 0, 12);
    ferry_kq_pack_scales(hdr + 4, ls, lm);
    ferry_fp16_put_le(hdr, max_scale / 63.f);
    ferry_fp16_put_le(hdr + 2, max_min / 63.f);
    ferry_kq_relevel(x, hdr, L, nmax);
}

void ferry_kq_relevel(const float *x, const uint8_t *hdr, uint8_t *L, int nmax)
{
    float d = ferry_fp16_le(hdr), dmin = ferry_fp16_le(hdr + 2);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        unpack_scale(j, hdr + 4, &sc, &m);
        float ds = d * (float)sc, dm = dmin * (float)m;
        if (ds == 0) continue;
        for (int l = 0; l < 32; l++) {
            int q = nearest_int((x[32 * j + l] + dm) / ds);
            L[32 * j + l] = (uint8_t)(q < 0 ? 0 : q > nmax ? nmax : q);
        }
    }
}

/* Q3_K's signed scale for 16 values into [-4, 3]: start from the largest magnitude, then up
 * to five rounds moving single levels while the weighted fit (weights x^2) improves. L gets
 * level + 4. */
static float q3_levels(const float *x, int8_t *L)
{
    const int nmax = 4;
    float mx = 0, amax = 0;
    for (int i = 0; i < 16; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), mx = x[i];
    if (amax < 1e-15f) {
        memset(L, 0, 16);
        return 0.f;
    }
    float iscale = -(float)nmax / mx, slx = 0, sl2 = 0;
    for (int i = 0; i < 16; i++) {
        int l = nearest_int(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        slx += w * x[i] * (float)l;
        sl2 += w * (float)l * (float)l;
    }
    for (int round = 0; round < 5; round++) {
        int changed = 0;
        for (int i = 0; i < 16; i++) {
            float w = x[i] * x[i];
            float tlx = slx - w * x[i] * (float)L[i];
            if (tlx <= 0) continue;
            float tl2 = sl2 - w * (float)L[i] * (float)L[i];
            int nl = nearest_int(x[i] * tl2 / tlx);
            nl = nl < -nmax ? -nmax : nl > nmax - 1 ? nmax - 1 : nl;
            if (nl == L[i]) continue;
            tlx += w * x[i] * (float)nl;
            tl2 += w * (float)nl * (float)nl;
            if (tl2 > 0 && tlx * tlx * sl2 > slx * slx * tl2) {
                L[i] = (int8_t)nl, slx = tlx, sl2 = tl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < 16; i++) L[i] = (int8_t)(L[i] + nmax);
    return sl2 > 0 ? slx / sl2 : 0.f;
}

/* four 2-bit levels per byte: element l of each 32-run in bits 2k of byte l (per 128) */
static void pack_2bit(uint8_t *q, const uint8_t *L)
{
    for (int j = 0; j < QKK; j += 128)
        for (int l = 0; l < 32; l++)
            *q++ = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                             (L[j + l + 96] << 6));
}

/* Q2_K: scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin; 84 bytes */
void ferry_quantize_q2_k(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y, L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 84, x += QKK) {
        float scales[16], mins[16], w[QKK], max_scale = 0, max_min = 0;
        for (int l = 0; l < QKK; l++) w[l] = fabsf(x[l]);
        for (int g = 0; g < 4; g++)
            qkx2(16, 3, x + 64 * g, w + 64 * g, L + 64 * g, scales + 4 * g, mins + 4 * g, -0.5f,
                 0.1f, 15, 1);
        for (int j = 0; j < 16; j++) {
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        uint8_t *sc = b;
        memset(sc, 0, 16);
        if (max_scale > 0)
            for (int j = 0; j < 16; j++) sc[j] = (uint8_t)nearest_int(15.f / max_scale * scales[j]);
        ferry_fp16_put_le(b + 80, max_scale > 0 ? max_scale / 15.f : 0.f);
        if (max_min > 0)
            for (int j = 0; j < 16; j++)
                sc[j] |= (uint8_t)(nearest_int(15.f / max_min * mins[j]) << 4);
        ferry_fp16_put_le(b + 82, max_min > 0 ? max_min / 15.f : 0.f);
        ferry_kq_finish_q2(x, b, L);
    }
}

void ferry_kq_finish_q2(const float *x, uint8_t *b, uint8_t *L)
{
    const uint8_t *sc = b;
    float d0 = ferry_fp16_le(b + 80), m0 = ferry_fp16_le(b + 82);
    for (int j = 0; j < 16; j++) {
        float d = d0 * (float)(sc[j] & 0xf);
        if (d == 0) continue;
        float dm = m0 * (float)(sc[j] >> 4);
        for (int l = 0; l < 16; l++) {
            int q = nearest_int((x[16 * j + l] + dm) / d);
            L[16 * j + l] = (uint8_t)(q < 0 ? 0 : q > 3 ? 3 : q);
        }
    }
    pack_2bit(b + 16, L);
}

/* Q3_K: hmask[32] (bit 2 of each level), qs[64] (bits 0-1), scales[12] (16 six-bit signed
 * scales), d; 110 bytes */
void ferry_quantize_q3_k(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    int8_t L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 110, x += QKK) {
        float scales[16], max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = q3_levels(x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) amax = fabsf(scales[j]), max_scale = scales[j];
        }
        uint8_t *s = b + 96;
        memset(s, 0, 12);
        if (max_scale != 0) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = nearest_int(iscale * scales[j]);
                l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
                if (j < 8)
                    s[j] = (uint8_t)(l & 0xf);
                else
                    s[j - 8] |= (uint8_t)((l & 0xf) << 4);
                s[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            ferry_fp16_put_le(b + 108, 1 / iscale);
        } else {
            ferry_fp16_put_le(b + 108, 0.f);
        }
        ferry_kq_finish_q3(x, b, L);
    }
}

void ferry_kq_finish_q3(const float *x, uint8_t *b, int8_t *L)
{
    const uint8_t *s = b + 96;
    uint8_t U[QKK];
    float d0 = ferry_fp16_le(b + 108);
    for (int j = 0; j < 16; j++) { /* a sub-block whose scale is 0 keeps its first levels */
        int sc =
            (j < 8 ? s[j] & 0xf : s[j - 8] >> 4) | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
        float d = d0 * (float)(sc - 32);
        if (d == 0) continue;
        for (int l = 0; l < 16; l++) {
            int q = nearest_int(x[16 * j + l] / d);
            L[16 * j + l] = (int8_t)((q < -4 ? -4 : q > 3 ? 3 : q) + 4);
        }
    }
    uint8_t *hm = b;
    memset(hm, 0, 32);
    for (int j = 0; j < QKK; j++) { /* high bit of element j: byte j % 32, bit j / 32 */
        U[j] = (uint8_t)L[j];
        if (U[j] > 3) {
            hm[j % 32] |= (uint8_t)(1u << (j / 32));
            U[j] = (uint8_t)(U[j] - 4);
        }
    }
    pack_2bit(b + 32, U);
}

void ferry_quantize_q4_k(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y, L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 144, x += QKK) {
        kquant_levels(x, b, L, 15, -1.f, 20);
        ferry_kq_store_q4(b, L);
    }
}

void ferry_kq_store_q4(uint8_t *b, const uint8_t *L)
{
    uint8_t *q = b + 16;
    for (int j = 0; j < QKK; j += 64)
        for (int l = 0; l < 32; l++) *q++ = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

void ferry_quantize_q5_k(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y, L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 176, x += QKK) {
        kquant_levels(x, b, L, 31, -0.5f, 15);
        ferry_kq_store_q5(b, L);
    }
}

void ferry_kq_store_q5(uint8_t *b, const uint8_t *L)
{
    uint8_t *qh = b + 16, *ql = b + 48;
    memset(qh, 0, 32);
    uint8_t m1 = 1, m2 = 2;
    for (int j = 0; j < QKK; j += 64) {
        for (int l = 0; l < 32; l++) {
            int l1 = L[j + l], l2 = L[j + l + 32];
            if (l1 > 15) l1 -= 16, qh[l] |= m1;
            if (l2 > 15) l2 -= 16, qh[l] |= m2;
            ql[l] = (uint8_t)(l1 | (l2 << 4));
        }
        m1 = (uint8_t)(m1 << 2);
        m2 = (uint8_t)(m2 << 2);
        ql += 32;
    }
}

void ferry_quantize_q6_k(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    int8_t L[QKK];
    for (uint64_t i = 0; i < n / QKK; i++, b += 210, x += QKK) {
        float scales[16];
        for (int g = 0; g < 4; g++) qx(16, 32, x + 64 * g, L + 64 * g, scales + 4 * g);
        ferry_kq_finish_q6(x, b, scales, L);
    }
}

void ferry_kq_finish_q6(const float *x, uint8_t *b, const float *scales, int8_t *L)
{
    float max_scale = 0, max_abs = 0;
    for (int ib = 0; ib < 16; ib++)
        if (fabsf(scales[ib]) > max_abs) max_abs = fabsf(scales[ib]), max_scale = scales[ib];
    int8_t *sc = (int8_t *)(b + 192);
    if (max_abs < 1e-15f) {
        memset(b, 0, 210);
        return;
    }
    float iscale = -128.f / max_scale;
    ferry_fp16_put_le(b + 208, 1 / iscale);
    for (int ib = 0; ib < 16; ib++) {
        int v = nearest_int(iscale * scales[ib]);
        sc[ib] = (int8_t)(v > 127 ? 127 : v);
    }
    float d0 = ferry_fp16_le(b + 208);
    for (int j = 0; j < 16; j++) {
        float d = d0 * sc[j];
        if (d == 0) continue;
        for (int ii = 0; ii < 16; ii++) {
            int l = nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)((l < -32 ? -32 : l > 31 ? 31 : l) + 32);
        }
    }
    uint8_t *ql = b, *qh = b + 128;
    for (int j = 0; j < QKK; j += 128) {
        for (int l = 0; l < 32; l++) {
            uint8_t q1 = (uint8_t)(L[j + l] & 0xf), q2 = (uint8_t)(L[j + l + 32] & 0xf);
            uint8_t q3 = (uint8_t)(L[j + l + 64] & 0xf), q4 = (uint8_t)(L[j + l + 96] & 0xf);
            ql[l] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                              ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}
