/* Q4_0 weights repacked eight rows at a time (see kernels_q4x8.h). Per block column of a group
 * of eight rows: the eight fp16 scales (order r0 r2 r4 r6 r1 r3 r5 r7), then the four row
 * pairs' 16-byte nibble arrays side by side, so one 32-byte load holds the same 32 elements of
 * two rows. A token's Q8_0 block is broadcast to both halves, two VNNI dot products take the
 * low and high nibbles, and three horizontal adds leave one sum per row in the order of the
 * scales: no per-row reduction and no scalar scale loads, which is what bounds the row-at-a-
 * time kernel. (llama.cpp likewise repacks Q4_0 at load on such CPUs.) */
#include "kernels_q4x8.h"
#include "ferry/cpu.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

enum { GROUP_BLOCK = 144 }; /* 16 bytes of scales + 8 rows x 16 bytes of nibbles */

static const int scale_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

int q4x8_available(void)
{
#if X86
    const struct ferry_cpu *c = ferry_cpu();
    return c->avx2 && c->fma && c->f16c && c->avx512vl && c->avx512vnni;
#else
    return 0;
#endif
}

uint8_t *q4x8_repack(const uint8_t *data, uint64_t rows, uint64_t cols)
{
    if (rows % 8 || cols % 32 || !rows) return NULL;
    uint64_t nb = cols / 32, rb = nb * 18;
    uint8_t *rep = malloc((size_t)(rows / 8 * nb * GROUP_BLOCK));
    if (!rep) return NULL;
    for (uint64_t g = 0; g < rows / 8; g++) {
        const uint8_t *r0 = data + 8 * g * rb;
        for (uint64_t b = 0; b < nb; b++) {
            uint8_t *dst = rep + (g * nb + b) * GROUP_BLOCK;
            for (int k = 0; k < 8; k++) memcpy(dst + 2 * k, r0 + (uint64_t)scale_order[k] * rb + 18 * b, 2);
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
q4x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, const float *ds8, uint64_t nb, float *out)
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
            s[p] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, xlo), hi, xhi);
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
#else
void q4x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, const float *ds8, uint64_t nb, float *out)
{
    (void)group, (void)xq, (void)dx, (void)ds8, (void)nb;
    memset(out, 0, 8 * sizeof(float)); /* never called: q4x8_available() is 0 */
}
#endif
