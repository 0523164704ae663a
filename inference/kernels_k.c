/* Q4_K and Q6_K weights times activations quantized to Q8_K (see kernels_k.h): integer dot
 * products per 16- or 32-element sub-block, scaled by the sub-block's integer scale and the
 * super-block's float scales, as llama.cpp computes them. Portable C and AVX2 versions. */
#include "kernels_k.h"
#include "ferry/cpu.h"
#include "ferry/half.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

void q8k_quantize(const float *x, struct q8k *y, uint64_t n)
{
    for (uint64_t b = 0; b < n / 256; b++, x += 256, y++) {
        float amax = 0, mx = 0;
        for (int i = 0; i < 256; i++)
            if (fabsf(x[i]) > amax) amax = fabsf(x[i]), mx = x[i];
        if (amax == 0) {
            memset(y, 0, sizeof(*y));
            continue;
        }
        float iscale = -127.f / mx;
        for (int i = 0; i < 256; i++) {
            int v = (int)lrintf(iscale * x[i]);
            y->qs[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += y->qs[16 * g + i];
            y->bsums[g] = (int16_t)s;
        }
        y->d = 1 / iscale;
    }
}

/* the 6-bit scale and min of sub-block j in Q4_K's 12-byte array */
static void q4k_scale(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K block: d, dmin (fp16), scales[12], qs[128]; byte l of 32-byte chunk c holds element
 * 64c + l (low nibble) and 64c + 32 + l (high nibble) */
static float dot_q4k_c(const uint8_t *w, const struct q8k *x, uint64_t nb)
{
    float sum = 0;
    for (uint64_t b = 0; b < nb; b++, w += 144, x++) {
        int sumi = 0, summ = 0;
        for (int c = 0; c < 4; c++) {
            int lo = 0, hi = 0, sc0, m0, sc1, m1;
            const uint8_t *q = w + 16 + 32 * c;
            for (int l = 0; l < 32; l++) {
                lo += (q[l] & 15) * x->qs[64 * c + l];
                hi += (q[l] >> 4) * x->qs[64 * c + 32 + l];
            }
            q4k_scale(w + 4, 2 * c, &sc0, &m0);
            q4k_scale(w + 4, 2 * c + 1, &sc1, &m1);
            sumi += sc0 * lo + sc1 * hi;
            summ += m0 * (x->bsums[4 * c] + x->bsums[4 * c + 1]) +
                    m1 * (x->bsums[4 * c + 2] + x->bsums[4 * c + 3]);
        }
        sum += x->d * (ferry_fp16_le(w) * (float)sumi - ferry_fp16_le(w + 2) * (float)summ);
    }
    return sum;
}

/* Q6_K block: ql[128], qh[64], scales[16] (int8, one per 16 elements), d; in each 128-element
 * half, byte l gives elements l, l+32 (ql[l], ql[l+32] low nibbles) and l+64, l+96 (high
 * nibbles), with two more bits each from qh[l]; values are level - 32 */
/* The eight 6-bit scales (bytes 0-7) and mins (bytes 8-15) of Q4_K's 12-byte array, with
 * word-wide masks: scales 0-3 and mins 0-3 are the low six bits of bytes 0-3 and 4-7; scales
 * and mins 4-7 take four bits from bytes 8-11 and their top two from the high bits of bytes
 * 0-3 and 4-7. */
void q4k_unpack(const uint8_t *s, uint8_t out[16])
{
    uint32_t w0, w1, w2, u[4];
    memcpy(&w0, s, 4), memcpy(&w1, s + 4, 4), memcpy(&w2, s + 8, 4);
    u[0] = w0 & 0x3f3f3f3fu;
    u[1] = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
    u[2] = w1 & 0x3f3f3f3fu;
    u[3] = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
    memcpy(out, u, 16);
}

void q6k_levels(const uint8_t *w, uint8_t *out)
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
        for (int l = 0; l < 32; l++) {
            out[128 * h + l] = (uint8_t)((ql[l] & 15) | ((qh[l] & 3) << 4));
            out[128 * h + l + 32] = (uint8_t)((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
            out[128 * h + l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            out[128 * h + l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
    }
}

static float dot_q6k_c(const uint8_t *w, const struct q8k *x, uint64_t nb)
{
    float sum = 0;
    for (uint64_t b = 0; b < nb; b++, w += 210, x++) {
        uint8_t lv[256];
        int8_t v[256];
        q6k_levels(w, lv);
        for (int i = 0; i < 256; i++) v[i] = (int8_t)(lv[i] - 32);
        const int8_t *sc = (const int8_t *)(w + 192);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += v[16 * g + i] * x->qs[16 * g + i];
            sumi += sc[g] * s;
        }
        sum += x->d * ferry_fp16_le(w + 208) * (float)sumi;
    }
    return sum;
}

#if X86
__attribute__((target("avx2"))) static inline int hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* per 32-byte chunk c: byte pairs that broadcast 16-bit scale 2c (low nibbles) and 2c + 1 */
static const int8_t q4k_pick[8][32] = {
#define PICK(k)                                                                                    \
    {                                                                                              \
        2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1,    \
            2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k),             \
            2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1,         \
            2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k), 2 * (k) + 1, 2 * (k),             \
            2 * (k) + 1, 2 * (k), 2 * (k) + 1                                                      \
    }
    PICK(0), PICK(1), PICK(2), PICK(3), PICK(4),
    PICK(5), PICK(6), PICK(7)
#undef PICK
};

__attribute__((target("avx2,fma,f16c"))) static float dot_q4k_avx2(const uint8_t *w,
                                                                   const struct q8k *x, uint64_t nb)
{
    const __m256i low = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();
    for (uint64_t b = 0; b < nb; b++, w += 144, x++) {
        _mm_prefetch((const char *)(w + 6144), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + 6144 + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + 6144 + 128), _MM_HINT_T0);
        uint8_t sm[16];
        q4k_unpack(w + 4, sm);
        __m128i sm16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sm));       /* scales */
        __m128i mn16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm + 8))); /* mins */
        __m256i scales = _mm256_broadcastsi128_si256(sm16);
        /* mins times the pair sums of x: each min twice against the 16 sums of 16 */
        __m256i mm =
            _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
        __m256i summ = _mm256_madd_epi16(mm, _mm256_loadu_si256((const __m256i *)x->bsums));
        __m256i s = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * c));
            __m256i lo = _mm256_and_si256(q, low),
                    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            __m256i plo =
                _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x->qs + 64 * c)));
            __m256i phi = _mm256_maddubs_epi16(
                hi, _mm256_loadu_si256((const __m256i *)(x->qs + 64 * c + 32)));
            __m256i s0 =
                _mm256_shuffle_epi8(scales, _mm256_loadu_si256((const __m256i *)q4k_pick[2 * c]));
            __m256i s1 = _mm256_shuffle_epi8(
                scales, _mm256_loadu_si256((const __m256i *)q4k_pick[2 * c + 1]));
            s = _mm256_add_epi32(
                s, _mm256_add_epi32(_mm256_madd_epi16(plo, s0), _mm256_madd_epi16(phi, s1)));
        }
        int32_t d2; /* d and dmin, two fp16 */
        memcpy(&d2, w, 4);
        __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(d2));
        dd = _mm_mul_ps(dd, _mm_set1_ps(x->d)); /* d, dmin times the activations' scale */
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(s), acc);
        macc = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(summ),
                               macc);
    }
    acc = _mm256_sub_ps(acc, macc);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q6k_avx2(const uint8_t *w,
                                                                   const struct q8k *x, uint64_t nb)
{
    const __m256i low = _mm256_set1_epi8(15), two = _mm256_set1_epi8(3);
    float sum = 0;
    for (uint64_t b = 0; b < nb; b++, w += 210, x++) {
        _mm_prefetch((const char *)(w + 6144), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + 6144 + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + 6144 + 128), _MM_HINT_T0);
        _mm_prefetch((const char *)(w + 6144 + 192), _MM_HINT_T0);
        const int8_t *sc = (const int8_t *)(w + 192);
        /* the -32 of every value, through the 16-element sums of x */
        int off =
            hsum_i32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)),
                                       _mm256_loadu_si256((const __m256i *)x->bsums)));
        __m256i s = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(w + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(w + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w + 128 + 32 * h));
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low),
                                _mm256_slli_epi16(_mm256_and_si256(qh, two), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(l1, low),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4)),
            };
            for (int k = 0; k < 4; k++) { /* 32 values: groups g and g + 1 */
                int g = 8 * h + 2 * k;
                __m256i p = _mm256_maddubs_epi16(
                    q[k], _mm256_loadu_si256((const __m256i *)(x->qs + 16 * g)));
                __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, scv));
            }
        }
        sum += x->d * _cvtsh_ss((unsigned short)(w[208] | w[209] << 8)) *
               (float)(hsum_i32(s) - 32 * off);
    }
    return sum;
}
#endif

static kq_dot_fn q4k_best = dot_q4k_c, q6k_best = dot_q6k_c;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void)
{
#if X86
    const struct ferry_cpu *c = ferry_cpu_detect();
    if (c->avx2 && c->fma && c->f16c) q4k_best = dot_q4k_avx2, q6k_best = dot_q6k_avx2;
#endif
}

kq_dot_fn kq_dot(enum ferry_dtype dt, int portable)
{
    pthread_once(&once, choose);
    if (portable) return dt == FERRY_DT_Q4_K ? dot_q4k_c : dot_q6k_c;
    return dt == FERRY_DT_Q4_K ? q4k_best : q6k_best;
}
