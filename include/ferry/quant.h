/* Row conversion kernels: every type ferry reads dequantizes to float32; F32, F16, BF16 and
 * the ggml block types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 quantize with llama.cpp's reference
 * rounding (reference/formats.md 2.3-2.4), bit for bit. */
#ifndef FERRY_QUANT_H
#define FERRY_QUANT_H

#include <stdint.h>
#include "ferry/dtype.h"

/* n elements (a multiple of the block size) from x (in dt) to float y. -1 if dt cannot be read. */
int ferry_to_float(enum ferry_dtype dt, const void *x, float *y, uint64_t n);
/* n elements of float x into y (in dt). -1 if ferry cannot write dt. */
int ferry_from_float(enum ferry_dtype dt, const float *x, void *y, uint64_t n);
/* One row of n elements of x into y (in dt) weighted by w (n importance weights, an imatrix
 * row), byte-equal to llama.cpp's quantizer given the same weights; types that take no weights
 * (F16, Q8_0, ...) ignore w. -1 if ferry cannot write dt. */
int ferry_from_float_weighted(enum ferry_dtype dt, const float *x, void *y, uint64_t n,
                              const float *w);
int ferry_can_read(enum ferry_dtype dt);
int ferry_can_write(enum ferry_dtype dt);

#endif
