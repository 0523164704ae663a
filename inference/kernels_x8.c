/* Q4_0 and Q8_0 weights repacked eight rows at a time (see kernels_x8.h); the eight rows'
 * fp16 scales of a block column sit together, so one conversion scales eight rows' sums and
 * no row needs a reduction of its own or scalar scale loads, which is what bounds the
 * row-at-a-time kernels. (llama.cpp likewise repacks these types at load on such CPUs.)
 * Q4_0: per block column the scales in the order r0 r2 r4 r6 r1 r3 r5 r7, then the four row
 * pairs' 16-byte nibble arrays side by side, so one 32-byte load holds the same 32 elements of
 * two rows; the token's block is broadcast to both halves, two VNNI dot products take the low
 * and high nibbles, and three horizontal adds leave one sum per row in the scales' order.
 * Q8_0: the scales in row order, then the eight rows' 32-byte blocks. */
#include "kernels_x8.h"
#include "simd.h"
#include "ferry/cpu.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

enum { GROUP_BLOCK = 144, GROUP_BLOCK8 = 272 }; /* 16 bytes of scales + 8 rows of 16 or 32 bytes */

/* Repacked weights are streamed once per token: 2 MiB pages where the kernel allows them (far
 * fewer TLB misses than 4 KiB pages). Freed with free(). */
static uint8_t *alloc_weights(size_t n)
{
    void *p = NULL;
    if (n >= (2u << 20) && posix_memalign(&p, 2u << 20, n) == 0) {
        madvise(p, n, MADV_HUGEPAGE);
        return p;
    }
    return malloc(n);
}

static const int scale_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

int x8_available(void)
{
#if X86
    const struct ferry_cpu *c = ferry_cpu_detect();
    return c->avx2 && c->fma && c->f16c && c->avx512vl && c->avx512vnni;
#else
    return 0;
#endif
}

uint8_t *q8x8_repack(const uint8_t *data, uint64_t rows, uint64_t cols)
{
    if (rows % 8 || cols % 32 || !rows) return NULL;
    uint64_t nb = cols / 32, rb = nb * 34;
    uint8_t *rep = alloc_weights((size_t)(rows / 8 * nb * GROUP_BLOCK8));
    if (!rep) return NULL;
    for (uint64_t g = 0; g < rows / 8; g++)
        for (uint64_t b = 0; b < nb; b++) {
            uint8_t *dst = rep + (g * nb + b) * GROUP_BLOCK8;
            for (uint64_t k = 0; k < 8; k++) {
                const uint8_t *src = data + (8 * g + k) * rb + 34 * b;
                memcpy(dst + 2 * k, src, 2);
                memcpy(dst + 16 + 32 * k, src + 2, 32);
            }
        }
    return rep;
}

uint8_t *q4x8_repack(const uint8_t *data, uint64_t rows, uint64_t cols)
{
    if (rows % 8 || cols % 32 || !rows) return NULL;
    uint64_t nb = cols / 32, rb = nb * 18;
    uint8_t *rep = alloc_weights((size_t)(rows / 8 * nb * GROUP_BLOCK));
    if (!rep) return NULL;
    for (uint64_t g = 0; g < rows / 8; g++) {
        const uint8_t *r0 = data + 8 * g * rb;
        for (uint64_t b = 0; b < nb; b++) {
            uint8_t *dst = rep + (g * nb + b) * GROUP_BLOCK;
            for (int k = 0; k < 8; k++)
                memcpy(dst + 2 * k, r0 + (uint64_t)scale_order[k] * rb + 18 * b, 2);
            for (int p = 0; p < 4; p++) {
                memcpy(dst + 16 + 32 * p, r0 + (uint64_t)(2 * p) * rb + 18 * b + 2, 16);
                memcpy(dst + 32 + 32 * p, r0 + (uint64_t)(2 * p + 1) * rb + 18 * b + 2, 16);
            }
        }
    }
    return rep;
}

#if X86
__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"))) void
q4x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, const float *ds8, uint64_t nb,
         float *out)
{
    const __m256i m = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps(), cacc = _mm256_setzero_ps();
    for (uint64_t b = 0; b < nb; b++, group += GROUP_BLOCK, xq += 34) {
        _mm_prefetch((const char *)(group + 48 * GROUP_BLOCK), _MM_HINT_T0);
        _mm_prefetch((const char *)(group + 48 * GROUP_BLOCK + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(group + 48 * GROUP_BLOCK + 128), _MM_HINT_T0);
        __m256i xlo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xq + 2)));
        __m256i xhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xq + 18)));
        __m256i s[4];
        for (int p = 0; p < 4; p++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(group + 16 + 32 * p));
            __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
            s[p] =
                _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, xlo), hi, xhi);
        }
        __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
        __m256 sc = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)group));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(sc, _mm256_set1_ps(dx[b])), _mm256_cvtepi32_ps(h), acc);
        cacc = _mm256_fmadd_ps(sc, _mm256_set1_ps(ds8[b]), cacc);
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_sub_ps(acc, cacc));
    for (int k = 0; k < 8; k++) out[scale_order[k]] = t[k];
}
/* The same for four tokens at once (prompt batches): each block's nibbles are unpacked once
 * and used for the four tokens' dot products. out + 8 * i: token i. */
__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"))) void
q4x8_dot4(const uint8_t *group, const uint8_t *const xq[4], const float *const dx[4],
          const float *const ds8[4], uint64_t nb, float *out)
{
    const __m256i m = _mm256_set1_epi8(15);
    __m256 acc[4], cacc[4];
    for (int i = 0; i < 4; i++) acc[i] = cacc[i] = _mm256_setzero_ps();
    for (uint64_t b = 0; b < nb; b++, group += GROUP_BLOCK) {
        _mm_prefetch((const char *)(group + 48 * GROUP_BLOCK), _MM_HINT_T0);
        _mm_prefetch((const char *)(group + 48 * GROUP_BLOCK + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(group + 48 * GROUP_BLOCK + 128), _MM_HINT_T0);
        __m256i lo[4], hi[4];
        for (int p = 0; p < 4; p++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(group + 16 + 32 * p));
            lo[p] = _mm256_and_si256(v, m), hi[p] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
        }
        __m256 sc = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)group));
        for (int i = 0; i < 4; i++) {
            const uint8_t *xb = xq[i] + 34 * b;
            __m256i xlo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xb + 2)));
            __m256i xhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xb + 18)));
            __m256i s[4];
            for (int p = 0; p < 4; p++)
                s[p] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo[p], xlo),
                                           hi[p], xhi);
            __m256i h =
                _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
            acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(sc, _mm256_set1_ps(dx[i][b])),
                                     _mm256_cvtepi32_ps(h), acc[i]);
            cacc[i] = _mm256_fmadd_ps(sc, _mm256_set1_ps(ds8[i][b]), cacc[i]);
        }
    }
    for (int i = 0; i < 4; i++) {
        float t[8];
        _mm256_storeu_ps(t, _mm256_sub_ps(acc[i], cacc[i]));
        for (int k = 0; k < 8; k++) out[8 * i + scale_order[k]] = t[k];
    }
}

__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"))) void
q8x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, uint64_t nb, float *out)
{
    __m256 acc = _mm256_setzero_ps();
    for (uint64_t b = 0; b < nb; b++, group += GROUP_BLOCK8, xq += 34) {
        for (int k = 0; k < 5; k++)
            _mm_prefetch((const char *)(group + 24 * GROUP_BLOCK8 + 64 * k), _MM_HINT_T0);
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 2)), p[8];
        for (int k = 0; k < 8; k++) { /* |w| times x with w's sign: unsigned by signed bytes */
            __m256i w = _mm256_loadu_si256((const __m256i *)(group + 16 + 32 * k));
            p[k] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w),
                                       _mm256_sign_epi8(x, w));
        }
        __m256 sc = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)group));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(sc, _mm256_set1_ps(dx[b])),
                              _mm256_cvtepi32_ps(hsum8_epi32(p)), acc);
    }
    _mm256_storeu_ps(out, acc);
}
/* Q8_0 for four tokens at once: the eight rows' blocks stay in registers; each token's block,
 * its bytes offset by 128 to make them unsigned, meets them in plain VNNI dot products, and
 * 128 * sum(w), the same for every token, is taken off once per block. out + 8 * i: token i. */
__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"))) void
q8x8_dot4(const uint8_t *group, const uint8_t *const xq[4], const float *const dx[4], uint64_t nb,
          float *out)
{
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    __m256 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();
    for (uint64_t b = 0; b < nb; b++, group += GROUP_BLOCK8) {
        for (int k = 0; k < 5; k++)
            _mm_prefetch((const char *)(group + 24 * GROUP_BLOCK8 + 64 * k), _MM_HINT_T0);
        __m256i w[8], p[8];
        for (int k = 0; k < 8; k++) {
            w[k] = _mm256_loadu_si256((const __m256i *)(group + 16 + 32 * k));
            p[k] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, w[k]);
        }
        __m256i corr = hsum8_epi32(p); /* 128 * sum of each row's block */
        __m256 sc = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)group));
        for (int i = 0; i < 4; i++) {
            __m256i x =
                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(xq[i] + 34 * b + 2)), bias);
            for (int k = 0; k < 8; k++) p[k] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), x, w[k]);
            __m256i dot = _mm256_sub_epi32(hsum8_epi32(p), corr);
            acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(sc, _mm256_set1_ps(dx[i][b])),
                                     _mm256_cvtepi32_ps(dot), acc[i]);
        }
    }
    for (int i = 0; i < 4; i++) _mm256_storeu_ps(out + 8 * i, acc[i]);
}
#else
void q8x8_dot4(const uint8_t *group, const uint8_t *const xq[4], const float *const dx[4],
               uint64_t nb, float *out)
{
    (void)group, (void)xq, (void)dx, (void)nb;
    memset(out, 0, 32 * sizeof(float)); /* never called: x8_available() is 0 */
}

void q4x8_dot4(const uint8_t *group, const uint8_t *const xq[4], const float *const dx[4],
               const float *const ds8[4], uint64_t nb, float *out)
{
    (void)group, (void)xq, (void)dx, (void)ds8, (void)nb;
    memset(out, 0, 32 * sizeof(float)); /* never called: x8_available() is 0 */
}

void q8x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, uint64_t nb, float *out)
{
    (void)group, (void)xq, (void)dx, (void)nb;
    memset(out, 0, 8 * sizeof(float)); /* never called: x8_available() is 0 */
}

void q4x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, const float *ds8,
              uint64_t nb, float *out)
{
    (void)group, (void)xq, (void)dx, (void)ds8, (void)nb;
    memset(out, 0, 8 * sizeof(float)); /* never called: x8_available() is 0 */
}
#endif
