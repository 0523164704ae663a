/* Q4_0 and Q8_0 matmul over groups of eight rows repacked for AVX512-VNNI (kernels_x8.c). */
#ifndef FERRY_INFERENCE_KERNELS_X8_H
#define FERRY_INFERENCE_KERNELS_X8_H

#include <stdint.h>

/* 1 when this CPU runs q4x8_dot and q8x8_dot */
int x8_available(void);
/* A copy of rows x cols Q4_0 (Q8_0) data in the eight-row layout, or NULL (rows not a multiple of
 * 8, or out of memory). Same size as the input. */
uint8_t *q4x8_repack(const uint8_t *data, uint64_t rows, uint64_t cols);
uint8_t *q8x8_repack(const uint8_t *data, uint64_t rows, uint64_t cols);
/* out[0..7]: the eight rows of one Q8_0 group times one token's Q8_0 blocks */
void q8x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, uint64_t nb, float *out);
/* out[0..7]: the eight rows of one group (nb blocks) times one token's Q8_0 blocks xq with
 * their scales dx and 8 * dx * sum(x) values ds8 */
void q4x8_dot(const uint8_t *group, const uint8_t *xq, const float *dx, const float *ds8,
              uint64_t nb, float *out);

/* q4x8_dot for four tokens at once; out[8 * i + k]: row k, token i */
void q4x8_dot4(const uint8_t *group, const uint8_t *const xq[4], const float *const dx[4],
               const float *const ds8[4], uint64_t nb, float *out);
/* q8x8_dot for four tokens at once; out[8 * i + k]: row k, token i */
void q8x8_dot4(const uint8_t *group, const uint8_t *const xq[4], const float *const dx[4],
               uint64_t nb, float *out);

#endif
