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

/* The codebooks, for the quantizers' search tables (quant_codebook.c): IQ3_S's 512 entries of
 * four 3-bit level indices (lowest bits first), IQ3_XXS's 256 of the same form; IQ2_XXS's 256,
 * IQ2_XS's 512, IQ2_S's 1024 and IQ1_S's (also IQ1_M's) 2048 entries of eight 2-bit level
 * indices (levels 0-2) */
const uint16_t *ferry_iq3s_codebook(void);
const uint16_t *ferry_iq3xxs_codebook(void);
const uint16_t *ferry_iq2xxs_codebook(void);
const uint16_t *ferry_iq2xs_codebook(void);
const uint16_t *ferry_iq2s_codebook(void);
const uint16_t *ferry_iq1s_codebook(void);

#endif
