/* Dot products and matmul over rows (see kernels.h). */
#include "kernels.h"
#include "kernels_k.h"
#include "kernels_x8.h"
#include "simd.h"
#include "ferry/cpu.h"
#include "ferry/half.h"
#include "ferry/quant.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

/* Prepared activations of one token: nb Q8_0 blocks, padded to 4 bytes, then nb block scales
 * and nb values 8 * scale * sum(x) as floats (see kern_prepare_x). */
static inline size_t xq_blocks_bytes(uint64_t nb)
{
    return ((size_t)nb * 34 + 3) & ~(size_t)3;
}

static inline const float *xq_scales(const uint8_t *x, uint64_t nb)
{
    return (const float *)(const void *)(x + xq_blocks_bytes(nb));
}

/* ---- portable versions ---- */
static float dot_f32_c(const float *a, const float *b, uint64_t n)
{
    float s[8] = {0};
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (uint64_t k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float t = 0;
    for (; i < n; i++) t += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

static float dot_f16_c(const uint8_t *w, const float *x, uint64_t n)
{
    float s = 0;
    for (uint64_t i = 0; i < n; i++) s += ferry_fp16_le(w + 2 * i) * x[i];
    return s;
}

static float dot_bf16_c(const uint8_t *w, const float *x, uint64_t n)
{
    float s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += ferry_bf16_to_fp32((uint16_t)(w[2 * i] | w[2 * i + 1] << 8)) * x[i];
    return s;
}

static float dot_q8_c(const uint8_t *w, const uint8_t *x, uint64_t nb, int q4)
{
    float s = 0;
    for (uint64_t b = 0; b < nb; b++, x += 34) {
        int acc = 0;
        if (q4) {
            for (int j = 0; j < 16; j++) {
                acc += ((w[2 + j] & 15) - 8) * (int8_t)x[2 + j];
                acc += ((w[2 + j] >> 4) - 8) * (int8_t)x[18 + j];
            }
            s += (float)acc * ferry_fp16_le(w) * ferry_fp16_le(x);
            w += 18;
        } else {
            for (int j = 0; j < 32; j++) acc += (int8_t)w[2 + j] * (int8_t)x[2 + j];
            s += (float)acc * ferry_fp16_le(w) * ferry_fp16_le(x);
            w += 34;
        }
    }
    return s;
}

#if X86
__attribute__((target("avx2,fma"))) static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static float dot_f32_avx2(const float *a, const float *b,
                                                              uint64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float t = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_f16_avx2(const uint8_t *w, const float *x,
                                                                   uint64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i + 16)));
        s0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(x + i + 8), s1);
    }
    float t = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) t += ferry_fp16_le(w + 2 * i) * x[i];
    return t;
}

__attribute__((target("avx2,fma"))) static float dot_bf16_avx2(const uint8_t *w, const float *x,
                                                               uint64_t n)
{
    __m256 s0 = _mm256_setzero_ps();
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
        __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
        s0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), s0);
    }
    float t = hsum(s0);
    for (; i < n; i++) t += ferry_bf16_to_fp32((uint16_t)(w[2 * i] | w[2 * i + 1] << 8)) * x[i];
    return t;
}

/* sum of products of 32 signed bytes, as 8 float lanes */
__attribute__((target("avx2,fma"))) static inline __m256 mul_i8(__m256i w, __m256i x)
{
    __m256i aw = _mm256_sign_epi8(w, w), sx = _mm256_sign_epi8(x, w);
    __m256i p16 = _mm256_maddubs_epi16(aw, sx);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __attribute__((always_inline, target("avx2"))) __m256i q4_unpack(const uint8_t *w)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)(w + 2)), m = _mm_set1_epi8(15);
    __m128i lo = _mm_and_si128(raw, m), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), m);
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

/* AVX512-VNNI (256-bit): dpbusd multiplies |w| (unsigned) by x carrying w's sign and sums four
 * products per lane in one instruction; two blocks in flight hide the FMA latency. */
__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"))) static float
dot_q8_vnni(const uint8_t *w, const uint8_t *x, uint64_t nb, int q4)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t ws = q4 ? 18 : 34;
    const float *dx = xq_scales(x, nb);
    uint64_t b = 0;
    for (; b + 2 <= nb; b += 2, w += 2 * ws, x += 68) {
        __m256i w0 = q4 ? q4_unpack(w) : _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i w1 = q4 ? q4_unpack(w + ws) : _mm256_loadu_si256((const __m256i *)(w + ws + 2));
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + 2));
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + 36));
        __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w0, w0),
                                         _mm256_sign_epi8(x0, w0));
        __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w1, w1),
                                         _mm256_sign_epi8(x1, w1));
        float d0 = _cvtsh_ss((unsigned short)(w[0] | w[1] << 8)) * dx[b];
        float d1 = _cvtsh_ss((unsigned short)(w[ws] | w[ws + 1] << 8)) * dx[b + 1];
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; b < nb; b++, w += ws, x += 34) {
        __m256i w0 = q4 ? q4_unpack(w) : _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + 2));
        __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w0, w0),
                                         _mm256_sign_epi8(x0, w0));
        float d0 = _cvtsh_ss((unsigned short)(w[0] | w[1] << 8)) * dx[b];
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

static inline uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Q8_0 with VNNI, eight blocks at a time: their integer dot products are reduced to one vector
 * of eight sums, converted once and scaled by eight weight scales (one F16C conversion) times
 * the activation scales, instead of a conversion, broadcast and FMA per block. */
__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"))) static float
dot_q8_vnni8(const uint8_t *w, const uint8_t *x, uint64_t nb, int q4)
{
    if (q4) return dot_q8_vnni(w, x, nb, q4);
    const float *dx = xq_scales(x, nb);
    __m256 acc = _mm256_setzero_ps();
    uint64_t b = 0;
    for (; b + 8 <= nb; b += 8, w += 8 * 34, x += 8 * 34) {
        __m256i p[8];
        for (int k = 0; k < 5; k++) _mm_prefetch((const char *)(w + 6144 + 64 * k), _MM_HINT_T0);
        for (int k = 0; k < 8; k++) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 34 * k + 2));
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + 34 * k + 2));
            p[k] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w0, w0),
                                       _mm256_sign_epi8(x0, w0));
        }
        __m128i sc = _mm_set_epi16((short)le16(w + 238), (short)le16(w + 204), (short)le16(w + 170),
                                   (short)le16(w + 136), (short)le16(w + 102), (short)le16(w + 68),
                                   (short)le16(w + 34), (short)le16(w));
        __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(sc), _mm256_loadu_ps(dx + b));
        acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(hsum8_epi32(p)), acc);
    }
    float t = hsum(acc);
    for (; b < nb; b++, w += 34, x += 34) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += (int8_t)w[2 + j] * (int8_t)x[2 + j];
        t += (float)s * _cvtsh_ss(le16(w)) * dx[b];
    }
    return t;
}

/* Q4_0 with VNNI, eight blocks at a time (as dot_q8_vnni8), the -8 offsets through the
 * activation sums as in dot_q4_vnni. */
__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"))) static float
dot_q4_vnni8(const uint8_t *w, const uint8_t *x, uint64_t nb)
{
    const float *dx = xq_scales(x, nb), *ds8 = dx + nb;
    const __m128i m = _mm_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps(), cacc = _mm256_setzero_ps();
    uint64_t b = 0;
    for (; b + 8 <= nb; b += 8, w += 8 * 18, x += 8 * 34) {
        __m256i p[8];
        for (int k = 0; k < 3; k++) _mm_prefetch((const char *)(w + 6144 + 64 * k), _MM_HINT_T0);
        for (int k = 0; k < 8; k++) {
            __m128i r = _mm_loadu_si128((const __m128i *)(w + 18 * k + 2));
            __m256i w0 =
                _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(r, 4), m), _mm_and_si128(r, m));
            p[k] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w0,
                                       _mm256_loadu_si256((const __m256i *)(x + 34 * k + 2)));
        }
        __m128i sc = _mm_set_epi16((short)le16(w + 126), (short)le16(w + 108), (short)le16(w + 90),
                                   (short)le16(w + 72), (short)le16(w + 54), (short)le16(w + 36),
                                   (short)le16(w + 18), (short)le16(w));
        __m256 sw = _mm256_cvtph_ps(sc);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(sw, _mm256_loadu_ps(dx + b)),
                              _mm256_cvtepi32_ps(hsum8_epi32(p)), acc);
        cacc = _mm256_fmadd_ps(sw, _mm256_loadu_ps(ds8 + b), cacc);
    }
    float t = hsum(acc) - hsum(cacc);
    for (; b < nb; b++, w += 18, x += 34) {
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += (w[2 + j] & 15) * (int8_t)x[2 + j] + (w[2 + j] >> 4) * (int8_t)x[18 + j];
        float sw = _cvtsh_ss(le16(w));
        t += sw * dx[b] * (float)sum - sw * ds8[b];
    }
    return t;
}

static float dot_q4_vnni_adapter(const uint8_t *w, const uint8_t *x, uint64_t nb, int q4)
{
    (void)q4;
    return dot_q4_vnni8(w, x, nb);
}

__attribute__((target("avx512f,avx512vl,fma,f16c"))) static float
dot_f16_avx512(const uint8_t *w, const float *x, uint64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 64 <= n; i += 64) { /* four chains keep the conversions and FMAs overlapped */
        _mm_prefetch((const char *)(w + 2 * i + 6144), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + 2 * i + 6208), _MM_HINT_T0);
        s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i))),
                             _mm512_loadu_ps(x + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i + 32))),
                             _mm512_loadu_ps(x + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i + 64))),
                             _mm512_loadu_ps(x + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i + 96))),
                             _mm512_loadu_ps(x + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * i))),
                             _mm512_loadu_ps(x + i), s0);
    float t = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++) t += ferry_fp16_le(w + 2 * i) * x[i];
    return t;
}

/* BF16 rows: a bfloat16 is the top half of a float, so widening and shifting makes the float */
__attribute__((target("avx512f,fma"))) static inline __m512 bf16x16(const uint8_t *p)
{
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

__attribute__((target("avx512f,fma"))) static float dot_bf16_avx512(const uint8_t *w,
                                                                    const float *x, uint64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)(w + 2 * i + 6144), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + 2 * i + 6208), _MM_HINT_T0);
        s0 = _mm512_fmadd_ps(bf16x16(w + 2 * i), _mm512_loadu_ps(x + i), s0);
        s1 = _mm512_fmadd_ps(bf16x16(w + 2 * i + 32), _mm512_loadu_ps(x + i + 16), s1);
        s2 = _mm512_fmadd_ps(bf16x16(w + 2 * i + 64), _mm512_loadu_ps(x + i + 32), s2);
        s3 = _mm512_fmadd_ps(bf16x16(w + 2 * i + 96), _mm512_loadu_ps(x + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(bf16x16(w + 2 * i), _mm512_loadu_ps(x + i), s0);
    float t = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++) t += ferry_bf16_to_fp32((uint16_t)(w[2 * i] | w[2 * i + 1] << 8)) * x[i];
    return t;
}

__attribute__((target("avx512f,avx512vl,fma"))) static float
dot_f32_avx512(const float *a, const float *b, uint64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    uint64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int k = 0; k < 4; k++)
            _mm_prefetch((const char *)(a + i + 1536 + 16 * k), _MM_HINT_T0);
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    float t = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

__attribute__((target("avx2,fma,f16c"))) static float
dot_q8_avx2(const uint8_t *w, const uint8_t *x, uint64_t nb, int q4)
{
    __m256 acc = _mm256_setzero_ps();
    const __m128i lowmask = _mm_set1_epi8(15);
    for (uint64_t b = 0; b < nb; b++, x += 34) {
        __m256i wq;
        if (q4) {
            __m128i raw = _mm_loadu_si128((const __m128i *)(w + 2));
            __m128i lo = _mm_and_si128(raw, lowmask),
                    hi = _mm_and_si128(_mm_srli_epi16(raw, 4), lowmask);
            wq = _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
        } else
            wq = _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i xq = _mm256_loadu_si256((const __m256i *)(x + 2));
        float d = _cvtsh_ss((unsigned short)(w[0] | w[1] << 8)) *
                  _cvtsh_ss((unsigned short)(x[0] | x[1] << 8));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), mul_i8(wq, xq), acc);
        w += q4 ? 18 : 34;
    }
    return hsum(acc);
}
#endif

#if X86
/* Prompt batches of F32/F16/BF16 weights (kind: the row format): tiles of 4 rows x tb tokens
 * (4 or 6), each 16-element chunk of a row loaded (and converted) once for the tokens and each
 * chunk of a token once for four rows, 4 * tb accumulators in registers. The 4 * nr rows from
 * data (rb bytes apart) into columns 0.. of y, tokens [0, tb). */
enum tile_kind { TILE_F32, TILE_F16, TILE_BF16 };
#define TILE_INLINE __attribute__((target("avx512f,fma,f16c"), always_inline)) static inline

TILE_INLINE __m512 row16(const uint8_t *row, uint64_t i, const int kind)
{
    if (kind == TILE_F32) return _mm512_loadu_ps((const float *)(const void *)row + i);
    if (kind == TILE_BF16) return bf16x16(row + 2 * i);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * i)));
}

TILE_INLINE void tile_rows(const uint8_t *data, size_t rb, const int kind, const float *x,
                           uint64_t n, const int tb, float *y, uint64_t ystride, uint64_t nr)
{
    for (uint64_t r = 0; r < 4 * nr; r += 4) {
        __m512 acc[4][6];
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < tb; b++) acc[a][b] = _mm512_setzero_ps();
        for (uint64_t i = 0; i < n; i += 16) {
            __m512 wv[4];
            for (int a = 0; a < 4; a++) wv[a] = row16(data + (r + (uint64_t)a) * rb, i, kind);
            for (int b = 0; b < tb; b++) {
                __m512 xv = _mm512_loadu_ps(x + (size_t)b * n + i);
                for (int a = 0; a < 4; a++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv, acc[a][b]);
            }
        }
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < tb; b++)
                y[(uint64_t)b * ystride + r + (uint64_t)a] = _mm512_reduce_add_ps(acc[a][b]);
    }
}

__attribute__((target("avx512f,fma,f16c"))) static void
tile_avx512(const uint8_t *data, size_t rb, int kind, const float *x, uint64_t n, uint32_t tb,
            float *y, uint64_t ystride, uint64_t nr)
{
    if (tb == 6) switch (kind) {
        case TILE_F16: tile_rows(data, rb, TILE_F16, x, n, 6, y, ystride, nr); return;
        case TILE_BF16: tile_rows(data, rb, TILE_BF16, x, n, 6, y, ystride, nr); return;
        default: tile_rows(data, rb, TILE_F32, x, n, 6, y, ystride, nr); return;
        }
    switch (kind) {
    case TILE_F16: tile_rows(data, rb, TILE_F16, x, n, 4, y, ystride, nr); return;
    case TILE_BF16: tile_rows(data, rb, TILE_BF16, x, n, 4, y, ystride, nr); return;
    default: tile_rows(data, rb, TILE_F32, x, n, 4, y, ystride, nr); return;
    }
}
#endif

typedef float (*dot_f32_fn)(const float *, const float *, uint64_t);
typedef float (*dot_h_fn)(const uint8_t *, const float *, uint64_t);
typedef float (*dot_q_fn)(const uint8_t *, const uint8_t *, uint64_t, int);
struct kernels {
    dot_f32_fn f32;
    dot_h_fn f16, bf16;
    dot_q_fn q8, q4;
    void (*tile)(const uint8_t *, size_t, int, const float *, uint64_t, uint32_t, float *, uint64_t,
                 uint64_t); /* F32/F16/BF16 prompt tiles, or NULL */
};

static struct kernels chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

/* The widest kernels this CPU runs, chosen once. */
static void choose(void)
{
    struct kernels k = {dot_f32_c, dot_f16_c, dot_bf16_c, dot_q8_c, dot_q8_c, NULL};
#if X86
    const struct ferry_cpu *c = ferry_cpu_detect();
    if (c->avx2 && c->fma) k.f32 = dot_f32_avx2, k.bf16 = dot_bf16_avx2;
    if (c->avx2 && c->fma && c->f16c) k.f16 = dot_f16_avx2, k.q8 = k.q4 = dot_q8_avx2;
    if (c->avx512f && c->fma && c->f16c) k.f32 = dot_f32_avx512, k.f16 = dot_f16_avx512;
    if (c->avx512f && c->fma) k.bf16 = dot_bf16_avx512;
    if (c->avx512f && c->fma && c->f16c) k.tile = tile_avx512;
    if (c->avx2 && c->fma && c->f16c && c->avx512vnni)
        k.q8 = dot_q8_vnni8, k.q4 = dot_q4_vnni_adapter;
#endif
    chosen = k;
}

static const struct kernels *pick(void)
{
    pthread_once(&chosen_once, choose);
    return &chosen;
}

float kern_dot_f32(const float *a, const float *b, uint64_t n)
{
    return pick()->f32(a, b, n);
}

/* The kernel family of each type computed natively, one row per type of the dtype table
 * (formats/dtype.c); a type without a row is dequantized one row at a time. */
enum kfamily { K_NONE, K_F32, K_F16, K_BF16, K_Q8_0, K_Q4_0, K_KQUANT };
static const enum kfamily kernel_of[FERRY_DT_COUNT] = {
    [FERRY_DT_F32] = K_F32,     [FERRY_DT_F16] = K_F16,   [FERRY_DT_BF16] = K_BF16,
    [FERRY_DT_Q8_0] = K_Q8_0,   [FERRY_DT_Q4_0] = K_Q4_0, [FERRY_DT_Q4_K] = K_KQUANT,
    [FERRY_DT_Q6_K] = K_KQUANT,
};

static enum kfamily family(enum ferry_dtype dt)
{
    return (unsigned)dt < FERRY_DT_COUNT ? kernel_of[dt] : K_NONE;
}

int kern_native(enum ferry_dtype dt)
{
    return family(dt) != K_NONE;
}

/* Activations of each token: Q8_0 blocks (34 bytes each), then the blocks' scales as floats so
 * the dot products do not convert them once per weight row. */
static size_t xq_token_bytes(uint64_t cols)
{
    return xq_blocks_bytes(cols / 32) + 2 * (size_t)(cols / 32) * sizeof(float);
}

static int is_kq(const struct weight *w)
{
    return family(w->dt) == K_KQUANT && w->cols % 256 == 0;
}

/* Q8_K activations of one token: the blocks, then their mins sums (q8k_mins) */
static size_t kq_token_bytes(uint64_t cols)
{
    return (size_t)(cols / 256) * sizeof(struct q8k) + (size_t)(cols / 16) * sizeof(float);
}

static const struct q8k *kq_token(const void *xq, uint64_t cols, uint32_t t)
{
    return (const struct q8k *)(const void *)((const uint8_t *)xq + t * kq_token_bytes(cols));
}

/* K-quant batches of four tokens or more in integer tiles on this CPU */
static int kq_tiles(uint32_t T)
{
    return T >= 4 && kq_tile(0);
}

size_t kern_xq_bytes(const struct weight *w, uint32_t T)
{
    /* K-quants: Q8_K activations for a few tokens, and for batches in integer tiles where
     * this CPU has them; other batches reuse each dequantized row */
    if (is_kq(w)) return T < 4 || kq_tiles(T) ? (size_t)T * kq_token_bytes(w->cols) : 0;
    if (family(w->dt) != K_Q8_0 && family(w->dt) != K_Q4_0) return 0;
    return (size_t)T * xq_token_bytes(w->cols);
}

void kern_prepare_x(const struct weight *w, const float *x, uint32_t T, uint32_t batch, void *xq)
{
    if (is_kq(w)) {
        size_t tb = kq_token_bytes(w->cols);
        for (uint32_t t = 0; t < T; t++) {
            struct q8k *q = (struct q8k *)(void *)((uint8_t *)xq + t * tb);
            q8k_quantize(x + (size_t)t * w->cols, q, w->cols);
            q8k_mins(q, w->cols / 256, (float *)(void *)(q + w->cols / 256));
            if (kq_tiles(batch)) q8k_tile_order(q, w->cols / 256);
        }
        return;
    }
    size_t tb = xq_token_bytes(w->cols), nb = (size_t)(w->cols / 32);
    for (uint32_t t = 0; t < T; t++) {
        uint8_t *q = (uint8_t *)xq + t * tb;
        ferry_from_float(FERRY_DT_Q8_0, x + (size_t)t * w->cols, q, w->cols);
        float *d = (float *)(void *)(q + xq_blocks_bytes(nb)), *ds8 = d + nb;
        for (size_t b = 0; b < nb; b++) {
            d[b] = ferry_fp16_le(q + 34 * b);
            int sum =
                0; /* Q4_0 weights enter as unsigned nibbles: their -8 is applied via the sum */
            for (int j = 0; j < 32; j++) sum += (int8_t)q[34 * b + 2 + (size_t)j];
            ds8[b] = 8.0f * d[b] * (float)sum;
        }
    }
}

void kern_repack(struct weight *w)
{
    if (w->rep || !x8_available()) return;
    if (w->dt == FERRY_DT_Q4_0) w->rep = q4x8_repack(w->data, w->rows, w->cols);
    if (w->dt == FERRY_DT_Q8_0) w->rep = q8x8_repack(w->data, w->rows, w->cols);
}

/* Rows [r0, r1) (r0 a multiple of 8) of a repacked weight, whole groups; returns the first
 * row left for the row-at-a-time kernels. */
static uint64_t matmul_x8(const struct weight *w, const uint8_t *xq, uint32_t T, float *y,
                          uint64_t ystride, uint64_t r0, uint64_t r1)
{
    uint64_t nb = w->cols / 32, end = r1 / 8 * 8;
    size_t tb = xq_token_bytes(w->cols);
    for (uint64_t g = r0 / 8; g < end / 8; g++) {
        uint32_t t = 0;
        for (; t + 4 <= T; t += 4) { /* four tokens per pass over the group */
            const uint8_t *xs[4];
            const float *dxs[4], *ds8s[4];
            for (uint32_t i = 0; i < 4; i++) {
                xs[i] = xq + (size_t)(t + i) * tb;
                dxs[i] = xq_scales(xs[i], nb), ds8s[i] = dxs[i] + nb;
            }
            float o[32];
            if (w->dt == FERRY_DT_Q4_0)
                q4x8_dot4(w->rep + g * nb * 144, xs, dxs, ds8s, nb, o);
            else
                q8x8_dot4(w->rep + g * nb * 272, xs, dxs, nb, o);
            for (uint32_t i = 0; i < 4; i++)
                memcpy(y + (t + i) * ystride + 8 * g, o + 8 * i, 8 * sizeof(float));
        }
        for (; t < T; t++) { /* the group's weights stay in L1 across tokens */
            const uint8_t *xt = xq + (size_t)t * tb;
            const float *dx = xq_scales(xt, nb);
            float o[8];
            if (w->dt == FERRY_DT_Q4_0)
                q4x8_dot(w->rep + g * nb * 144, xt, dx, dx + nb, nb, o);
            else
                q8x8_dot(w->rep + g * nb * 272, xt, dx, nb, o);
            memcpy(y + t * ystride + 8 * g, o, sizeof(o));
        }
    }
    return end > r0 ? end : r0;
}

/* Rows [r0, r1) of a K-quant weight in integer tiles: KERN_SCRATCH_ROWS rows at a time decoded
 * into scratch (kq_decoded_bytes per row, under the 4 * cols bytes a row of it holds), then four
 * tokens a pass over them, two rows a tile; a last group short of four fills the tile with its
 * last token again (the activations are in tile order, which only the tiles read). Returns r1. */
static uint64_t matmul_kq_tiles(const struct weight *w, const void *xq, uint32_t T, float *y,
                                uint64_t ystride, uint64_t r0, uint64_t r1, float *scratch)
{
    const uint64_t n = w->cols, nb = n / 256;
    const kq_tile_fn tile = kq_tile(0);
    const size_t rs = kq_decoded_bytes(n);
    uint8_t *dec = (uint8_t *)scratch;
    for (; r0 < r1;) {
        uint64_t nr = r1 - r0 < KERN_SCRATCH_ROWS ? r1 - r0 : KERN_SCRATCH_ROWS;
        for (uint64_t a = 0; a < nr; a++)
            kq_decode_row(w->dt, w->data + (r0 + a) * w->rb, n, dec + a * rs);
        for (uint32_t t = 0; t < T; t += 4) {
            const struct q8k *xs[4];
            const float *xm[4];
            uint32_t nt = T - t < 4 ? T - t : 4;
            for (uint32_t i = 0; i < 4; i++) {
                xs[i] = kq_token(xq, n, t + (i < nt ? i : nt - 1));
                xm[i] = (const float *)(const void *)(xs[i] + nb);
            }
            for (uint64_t a = 0; a < nr; a += 2) {
                int two = a + 1 < nr;
                float o[8];
                tile(dec + a * rs, rs, two ? 2 : 1, xs, xm, nb, o);
                for (uint32_t i = 0; i < nt; i++)
                    for (int e = 0; e <= two; e++)
                        y[(t + i) * ystride + r0 + a + (uint64_t)e] =
                            o[i * (two ? 2 : 1) + (uint32_t)e];
            }
        }
        r0 += nr;
    }
    return r1;
}

void kern_row(const struct weight *w, uint64_t r, float *out)
{
    ferry_to_float(w->dt, w->data + r * w->rb, out, w->cols);
}

void kern_matmul(const struct weight *w, const float *x, const void *xq, uint32_t T, float *y,
                 uint64_t ystride, uint64_t r0, uint64_t r1, float *scratch)
{
    const uint64_t n = w->cols;
    const struct kernels k = *pick();
    const enum kfamily fam = family(w->dt);
    const kq_dot_fn kq = fam == K_KQUANT ? kq_dot(w->dt, 0) : NULL;
    if (w->rep && xq && r0 % 8 == 0) r0 = matmul_x8(w, xq, T, y, ystride, r0, r1);
    /* Float register tiles for F32/F16/BF16 rows as they are, and block types without integer
     * activations made float KERN_SCRATCH_ROWS rows at a time: a block of rows, then its tiles
     * token group by token group (four tokens stay in L1 across the rows, the rows in L2
     * across the tokens). */
    int direct = fam == K_F32 || fam == K_F16 || fam == K_BF16;
    if (k.tile && T >= 4 && n % 16 == 0 && (direct || !xq))
        while (r0 + 4 <= r1) {
            uint64_t nr =
                (r1 - r0) / 4 < KERN_SCRATCH_ROWS / 4 ? (r1 - r0) / 4 : KERN_SCRATCH_ROWS / 4;
            const uint8_t *rows = w->data + r0 * w->rb;
            size_t rb = w->rb;
            if (!direct) {
                for (uint64_t a = 0; a < 4 * nr; a++)
                    ferry_to_float(w->dt, w->data + (r0 + a) * w->rb, scratch + a * n, n);
                rows = (const uint8_t *)scratch, rb = n * sizeof(float);
            }
            int kind = !direct || fam == K_F32 ? TILE_F32 : fam == K_F16 ? TILE_F16 : TILE_BF16;
            uint32_t t = 0;
            for (uint32_t tb = 6; tb >= 4; tb -= 2) /* groups of six tokens, then of four */
                for (; t + tb <= T; t += tb)
                    k.tile(rows, rb, kind, x + (size_t)t * n, n, tb, y + t * ystride + r0, ystride,
                           nr);
            for (uint64_t a = 0; a < 4 * nr; a++) /* the tokens past the last whole group */
                for (uint32_t u = t; u < T; u++)
                    y[u * ystride + r0 + a] =
                        kind == TILE_F16 ? k.f16(rows + a * rb, x + u * n, n)
                        : kind == TILE_BF16
                            ? k.bf16(rows + a * rb, x + u * n, n)
                            : k.f32((const float *)(const void *)(rows + a * rb), x + u * n, n);
            r0 += 4 * nr;
        }
    if (xq && fam == K_KQUANT && kq_tiles(T))
        r0 = matmul_kq_tiles(w, xq, T, y, ystride, r0, r1, scratch);
    for (uint64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->data + r * w->rb;
        switch (fam) {
        case K_F32:
            for (uint32_t t = 0; t < T; t++)
                y[t * ystride + r] = k.f32((const float *)row, x + t * n, n);
            break;
        case K_F16:
            for (uint32_t t = 0; t < T; t++) y[t * ystride + r] = k.f16(row, x + t * n, n);
            break;
        case K_BF16:
            for (uint32_t t = 0; t < T; t++) y[t * ystride + r] = k.bf16(row, x + t * n, n);
            break;
        case K_Q8_0:
        case K_Q4_0:
            for (uint32_t t = 0; t < T; t++)
                y[t * ystride + r] = (fam == K_Q4_0 ? k.q4 : k.q8)(
                    row, (const uint8_t *)xq + (size_t)t * xq_token_bytes(n), n / 32,
                    fam == K_Q4_0);
            break;
        case K_KQUANT:
            if (xq) { /* activations as Q8_K: integer dot products */
                for (uint32_t t = 0; t < T; t++)
                    y[t * ystride + r] = kq(row, kq_token(xq, n, t), n / 256);
                break;
            }
            /* fall through */
        default: /* dequantize the row once for every token */
            ferry_to_float(w->dt, row, scratch, n);
            for (uint32_t t = 0; t < T; t++) y[t * ystride + r] = k.f32(scratch, x + t * n, n);
            break;
        }
    }
}
