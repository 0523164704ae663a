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

/* IQ3_S's codebook: 512 entries of four 3-bit level indices (lowest bits first), the level
 * of index l being 2l + 1 (quant_iq3.c builds its search tables from it) */
const uint16_t *ferry_iq3s_codebook(void);
/* IQ3_XXS's: 256 entries, the same form */
const uint16_t *ferry_iq3xxs_codebook(void);

#endif
