/* x86 helpers shared by the kernel files (kernels.c, kernels_x8.c); compiled only where the
 * including code is. */
#ifndef FERRY_INFERENCE_SIMD_H
#define FERRY_INFERENCE_SIMD_H

#if defined(__x86_64__)
#include <immintrin.h>

/* Sums of the eight int32 lanes of each of p[0..7], as one vector [S0..S7]. */
__attribute__((target("avx2"))) static inline __m256i hsum8_epi32(const __m256i *p)
{
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
                            _mm256_permute2x128_si256(a, b, 0x31));
}
#endif

#endif
