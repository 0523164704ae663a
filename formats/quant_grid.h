/* Dequantizers of the codebook-based IQ1/IQ2/IQ3 block types (quant_grid.c), used by the
 * trait table in quant.c. */
#ifndef FERRY_FORMATS_QUANT_GRID_H
#define FERRY_FORMATS_QUANT_GRID_H

#include <stdint.h>

void ferry_dequant_iq2_xxs(const void *x, float *y, uint64_t n);
void ferry_dequant_iq2_xs(const void *x, float *y, uint64_t n);
void ferry_dequant_iq2_s(const void *x, float *y, uint64_t n);
void ferry_dequant_iq3_xxs(const void *x, float *y, uint64_t n);
void ferry_dequant_iq3_s(const void *x, float *y, uint64_t n);
void ferry_dequant_iq1_s(const void *x, float *y, uint64_t n);
void ferry_dequant_iq1_m(const void *x, float *y, uint64_t n);

#endif
