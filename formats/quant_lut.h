/* Dequantizers of the table-based and ternary block types (quant_lut.c), used by the trait
 * table in quant.c. */
#ifndef FERRY_FORMATS_QUANT_LUT_H
#define FERRY_FORMATS_QUANT_LUT_H

#include <stdint.h>

/* the 16 levels of IQ4_NL and IQ4_XS */
extern const int8_t ferry_iq4nl_levels[16];

void ferry_dequant_iq4_nl(const void *x, float *y, uint64_t n);
void ferry_dequant_iq4_xs(const void *x, float *y, uint64_t n);
void ferry_dequant_mxfp4(const void *x, float *y, uint64_t n);
void ferry_dequant_tq1_0(const void *x, float *y, uint64_t n);
void ferry_dequant_tq2_0(const void *x, float *y, uint64_t n);

/* The IQ4 quantizers (quant_iq4.c): one row of n values, with importance weights (the _w
 * forms) or without, as llama-quantize writes them. */
void ferry_quantize_iq4_nl(const float *x, void *y, uint64_t n);
void ferry_quantize_iq4_nl_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_iq4_xs(const float *x, void *y, uint64_t n);
void ferry_quantize_iq4_xs_w(const float *x, void *y, uint64_t n, const float *qw);

/* The IQ3 quantizers (quant_iq3.c), as llama-quantize writes them. */
void ferry_quantize_iq3_s(const float *x, void *y, uint64_t n);
void ferry_quantize_iq3_s_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_iq3_xxs(const float *x, void *y, uint64_t n);
void ferry_quantize_iq3_xxs_w(const float *x, void *y, uint64_t n, const float *qw);

/* The IQ2 quantizers (quant_iq2.c) and IQ1 quantizers (quant_iq1.c), as llama-quantize writes
 * them; IQ2_XXS, IQ2_XS and IQ1_S without weights weigh every column 1 (llama-quantize makes
 * them only with an imatrix) */
void ferry_quantize_iq2_xxs(const float *x, void *y, uint64_t n);
void ferry_quantize_iq2_xxs_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_iq2_xs(const float *x, void *y, uint64_t n);
void ferry_quantize_iq2_xs_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_iq2_s(const float *x, void *y, uint64_t n);
void ferry_quantize_iq2_s_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_iq1_s(const float *x, void *y, uint64_t n);
void ferry_quantize_iq1_s_w(const float *x, void *y, uint64_t n, const float *qw);
void ferry_quantize_iq1_m(const float *x, void *y, uint64_t n);
void ferry_quantize_iq1_m_w(const float *x, void *y, uint64_t n, const float *qw);

/* The ternary quantizers (quant_ternary.c), as llama-quantize writes them. */
void ferry_quantize_tq1_0(const float *x, void *y, uint64_t n);
void ferry_quantize_tq2_0(const float *x, void *y, uint64_t n);

#endif
