/* Decoders of the 8-bit float formats (float8.c), used by the trait table in quant.c. */
#ifndef FERRY_FORMATS_FLOAT8_H
#define FERRY_FORMATS_FLOAT8_H

#include <stdint.h>

void ferry_f8_e4m3_to(const void *x, float *y, uint64_t n);
void ferry_f8_e5m2_to(const void *x, float *y, uint64_t n);
void ferry_f8_e4m3fnuz_to(const void *x, float *y, uint64_t n);
void ferry_f8_e5m2fnuz_to(const void *x, float *y, uint64_t n);
void ferry_f8_e8m0_to(const void *x, float *y, uint64_t n);

#endif
