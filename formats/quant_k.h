/* K-quant quantizers (quant_k.c), used by the trait table in quant.c. */
#ifndef FERRY_FORMATS_QUANT_K_H
#define FERRY_FORMATS_QUANT_K_H

#include <stdint.h>

void ferry_quantize_q2_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q3_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q4_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q5_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q6_k(const float *x, void *y, uint64_t n);

#endif
