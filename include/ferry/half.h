/* Scalar float conversions with ggml's exact rounding (reference/formats 2.4):
 * F32->F16 IEEE round-to-nearest-even; F32->BF16 round-to-nearest-even, NaN kept quiet,
 * subnormals not flushed. */
#ifndef FERRY_HALF_H
#define FERRY_HALF_H

#include <stdint.h>
#include <stddef.h>

uint16_t ferry_fp32_to_fp16(float f);
float ferry_fp16_to_fp32(uint16_t h);
uint16_t ferry_fp32_to_bf16(float f);
float ferry_bf16_to_fp32(uint16_t h);

/* the little-endian fp16 at p (block scales in GGUF data) */
static inline float ferry_fp16_le(const uint8_t *p)
{
    return ferry_fp16_to_fp32((uint16_t)(p[0] | p[1] << 8));
}

/* f as a little-endian fp16 at p */
static inline void ferry_fp16_put_le(uint8_t *p, float f)
{
    uint16_t h = ferry_fp32_to_fp16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

void ferry_fp32_to_fp16_row(const float *x, uint16_t *y, size_t n);
void ferry_fp16_to_fp32_row(const uint16_t *x, float *y, size_t n);
void ferry_fp32_to_bf16_row(const float *x, uint16_t *y, size_t n);
void ferry_bf16_to_fp32_row(const uint16_t *x, float *y, size_t n);

#endif
