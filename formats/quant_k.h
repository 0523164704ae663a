/* K-quant quantizers (quant_k.c), used by the trait table in dtype.c, and the steps they share
 * with the importance-weighted quantizers (quant_weighted.c): each finishes a 256-value block
 * whose scales are chosen, requantizing with the scales as stored and packing the levels. */
#ifndef FERRY_FORMATS_QUANT_K_H
#define FERRY_FORMATS_QUANT_K_H

#include <stdint.h>

void ferry_quantize_q2_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q3_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q4_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q5_k(const float *x, void *y, uint64_t n);
void ferry_quantize_q6_k(const float *x, void *y, uint64_t n);

/* Q2_K: b's scales (bytes 0-15), d and dmin set; L holds the first levels (kept where a
 * sub-block's scale is 0) */
void ferry_kq_finish_q2(const float *x, uint8_t *b, uint8_t *L);
/* Q3_K: b's scales (bytes 96-107) and d set; L holds level + 4 */
void ferry_kq_finish_q3(const float *x, uint8_t *b, int8_t *L);
/* Q6_K from its 16 sub-block scales; L holds level + 32 */
void ferry_kq_finish_q6(const float *x, uint8_t *b, const float *scales, int8_t *L);
/* Q4_K/Q5_K: 6-bit scales and mins into the 12-byte layout; levels again from a header as
 * stored (d, dmin, scales); the levels packed */
void ferry_kq_pack_scales(uint8_t *s, const uint8_t *ls, const uint8_t *lm);
void ferry_kq_relevel(const float *x, const uint8_t *hdr, uint8_t *L, int nmax);
void ferry_kq_store_q4(uint8_t *b, const uint8_t *L);
void ferry_kq_store_q5(uint8_t *b, const uint8_t *L);

#endif
