/* Dequantizers of the table-based and ternary block types (quant_lut.c), used by the trait
 * table in quant.c. */
#ifndef FERRY_FORMATS_QUANT_LUT_H
#define FERRY_FORMATS_QUANT_LUT_H

#include <stdint.h>

void ferry_dequant_iq4_nl(const void *x, float *y, uint64_t n);
void ferry_quantize_iq4_nl(const float *x, void *y, uint64_t n);
void ferry_dequant_iq4_xs(const void *x, float *y, uint64_t n);
void ferry_dequant_mxfp4(const void *x, float *y, uint64_t n);
void ferry_dequant_tq1_0(const void *x, float *y, uint64_t n);
void ferry_dequant_tq2_0(const void *x, float *y, uint64_t n);

#endif
