/* Attention over the blocked key cache (see attention.h): a portable version and one with
 * AVX-512 for head sizes that are multiples of 16, chosen once. */
#include "attention.h"
#include "ferry/cpu.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

static inline size_t kt_at(uint32_t hd, uint32_t p, uint32_t d)
{
    return (size_t)(p / 16) * hd * 16 + (size_t)d * 16 + p % 16;
}

void kern_store_key(float *kt, uint32_t hd, uint32_t p, const float *k)
{
    for (uint32_t d = 0; d < hd; d++) kt[kt_at(hd, p, d)] = k[d];
}

static uint32_t most_positions(const struct kern_attend_args *a)
{
    uint32_t n = 0;
    for (uint32_t j = 0; j < a->nq; j++)
        if (a->npos[j] > n) n = a->npos[j];
    return n;
}

/* Scores s[0..n) become softmax weights; s[n..len) become 0 so every query can run over the
 * same positions. */
static void softmax_row(float *s, uint32_t n, uint32_t len)
{
    float mx = -INFINITY;
    for (uint32_t p = 0; p < n; p++)
        if (s[p] > mx) mx = s[p];
    double sum = 0;
    for (uint32_t p = 0; p < n; p++) sum += s[p] = expf(s[p] - mx);
    float inv = (float)(1.0 / sum);
    for (uint32_t p = 0; p < n; p++) s[p] *= inv;
    for (uint32_t p = n; p < len; p++) s[p] = 0;
}

void kern_attend_portable(const struct kern_attend_args *a, float *scratch)
{
    uint32_t hd = a->hd, len = kern_kblocks_len(most_positions(a));
    for (uint32_t j = 0; j < a->nq; j++) {
        float *s = scratch + (size_t)j * len;
        for (uint32_t p = 0; p < a->npos[j]; p++) {
            float acc = 0;
            for (uint32_t d = 0; d < hd; d++) acc += a->q[j][d] * a->kt[kt_at(hd, p, d)];
            s[p] = acc * a->scale;
        }
        softmax_row(s, a->npos[j], a->npos[j]);
        memset(a->out[j], 0, hd * sizeof(float));
        for (uint32_t p = 0; p < a->npos[j]; p++)
            for (uint32_t d = 0; d < hd; d++) a->out[j][d] += s[p] * a->v[p * a->vstride + d];
    }
}

#if X86
#define WIDE __attribute__((target("avx512f,fma"), always_inline)) static inline

/* Scores of nq queries for the block of 16 positions at kb: two chains of products per query
 * (even and odd dimensions) so the additions overlap. */
WIDE void score_block(const struct kern_attend_args *a, const int nq, const float *kb, float *s,
                      uint32_t len)
{
    __m512 e[KERN_ATTEND_MAX], o[KERN_ATTEND_MAX];
    for (int j = 0; j < nq; j++) e[j] = o[j] = _mm512_setzero_ps();
    for (uint32_t d = 0; d < a->hd; d += 2) {
        __m512 k0 = _mm512_loadu_ps(kb + (size_t)d * 16),
               k1 = _mm512_loadu_ps(kb + (size_t)d * 16 + 16);
        for (int j = 0; j < nq; j++) {
            e[j] = _mm512_fmadd_ps(_mm512_set1_ps(a->q[j][d]), k0, e[j]);
            o[j] = _mm512_fmadd_ps(_mm512_set1_ps(a->q[j][d + 1]), k1, o[j]);
        }
    }
    __m512 sc = _mm512_set1_ps(a->scale);
    for (int j = 0; j < nq; j++)
        _mm512_storeu_ps(s + (size_t)j * len, _mm512_mul_ps(_mm512_add_ps(e[j], o[j]), sc));
}

/* Weighted values of nq queries for the head dimensions [c, c + 16 * nv) over n positions. */
WIDE void value_chunk(const struct kern_attend_args *a, const int nq, const int nv, uint32_t c,
                      const float *w, uint32_t len, uint32_t n)
{
    __m512 acc[KERN_ATTEND_MAX][4];
    for (int j = 0; j < nq; j++)
        for (int i = 0; i < nv; i++) acc[j][i] = _mm512_setzero_ps();
    for (uint32_t p = 0; p < n; p++) {
        const float *vp = a->v + p * a->vstride + c;
        __m512 vv[4];
        for (int i = 0; i < nv; i++) vv[i] = _mm512_loadu_ps(vp + 16 * i);
        for (int j = 0; j < nq; j++) {
            __m512 wj = _mm512_set1_ps(w[(size_t)j * len + p]);
            for (int i = 0; i < nv; i++) acc[j][i] = _mm512_fmadd_ps(wj, vv[i], acc[j][i]);
        }
    }
    for (int j = 0; j < nq; j++)
        for (int i = 0; i < nv; i++) _mm512_storeu_ps(a->out[j] + c + 16 * i, acc[j][i]);
}

/* e^x for 16 lanes: x = n ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series to r^7
 * (relative error below 1e-7), times 2^n; below -104 the result is 0, a NaN stays NaN. */
WIDE __m512 exp16(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-6f), r);
    static const float c[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24,
                              1.0f / 6,    0.5f,       1.0f,       1.0f};
    __m512 p = _mm512_set1_ps(1.0f / 40320);
    for (int i = 0; i < 8; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c[i]));
    return _mm512_scalef_ps(p, n);
}

static inline __mmask16 first_lanes(uint32_t k)
{
    return k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << k) - 1);
}

/* softmax_row with 16 lanes at a time */
WIDE void softmax16(float *s, uint32_t n, uint32_t len)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (uint32_t p = 0; p < n; p += 16) {
        __mmask16 m = first_lanes(n - p);
        mx = _mm512_mask_max_ps(mx, m, _mm512_maskz_loadu_ps(m, s + p), mx);
    }
    __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512d sum = _mm512_setzero_pd();
    for (uint32_t p = 0; p < n; p += 16) {
        __mmask16 m = first_lanes(n - p);
        __m512 e =
            _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + p), top)));
        _mm512_storeu_ps(s + p, e); /* within len: positions past n become 0 here */
        sum = _mm512_add_pd(sum, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum = _mm512_add_pd(
            sum, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    __m512 inv = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(sum)));
    uint32_t p = 0;
    for (; p < n; p += 16) _mm512_storeu_ps(s + p, _mm512_mul_ps(_mm512_loadu_ps(s + p), inv));
    for (; p < len; p += 16) _mm512_storeu_ps(s + p, _mm512_setzero_ps());
}

/* nq known at compile time: the accumulators stay in registers */
WIDE void attend_n(const struct kern_attend_args *a, const int nq, float *scratch)
{
    uint32_t hd = a->hd, most = most_positions(a), len = kern_kblocks_len(most);
    for (uint32_t b = 0; b < len / 16; b++)
        score_block(a, nq, a->kt + (size_t)b * hd * 16, scratch + 16 * b, len);
    for (int j = 0; j < nq; j++) softmax16(scratch + (size_t)j * len, a->npos[j], len);
    uint32_t c = 0;
    for (; c + 64 <= hd; c += 64) value_chunk(a, nq, 4, c, scratch, len, most);
    for (; c < hd; c += 16) value_chunk(a, nq, 1, c, scratch, len, most);
}

__attribute__((target("avx512f,fma"))) static void attend_avx512(const struct kern_attend_args *a,
                                                                 float *scratch)
{
    switch (a->nq) {
    case 1: attend_n(a, 1, scratch); break;
    case 2: attend_n(a, 2, scratch); break;
    case 3: attend_n(a, 3, scratch); break;
    default: attend_n(a, 4, scratch); break;
    }
}
#endif

typedef void (*attend_fn)(const struct kern_attend_args *, float *);
static attend_fn wide; /* head sizes that are multiples of 16, or NULL */
static pthread_once_t wide_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
#if X86
    const struct ferry_cpu *c = ferry_cpu_detect();
    if (c->avx512f && c->fma) wide = attend_avx512;
#endif
}

void kern_attend(const struct kern_attend_args *a, float *scratch)
{
    pthread_once(&wide_once, choose);
    if (wide && a->hd % 16 == 0)
        wide(a, scratch);
    else
        kern_attend_portable(a, scratch);
}
