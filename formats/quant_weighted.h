/* Importance-weighted quantizers (quant_weighted.c), the dtype table's from_float_w: one row
 * of n values (whole blocks) with one weight per value. */
#ifndef FERRY_FORMATS_QUANT_WEIGHTED_H
#define FERRY_FORMATS_QUANT_WEIGHTED_H

#include <stdint.h>

void ferry_quantize_q4_0_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q4_1_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q5_0_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q5_1_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q2_k_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q3_k_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q4_k_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q5_k_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_q6_k_w(const float *x, void *y, uint64_t n, const float *qw);

/* Unsigned weighted scale of n non-negative values into levels [0, nmax] (ggml's
 * make_qp_quants; also IQ2_XXS's first scale) */
float ferry_quant_qp_w(int n, int nmax, const float *x, uint8_t *L, const float *w);

#endif
