/* Converters between a dtype's bytes and float32, n elements (a whole number of blocks), as
 * the dtype table (dtype.c) names them; formats/ only. */
#ifndef FERRY_FORMATS_ROWS_H
#define FERRY_FORMATS_ROWS_H

#include <stdint.h>

void ferry_rows_f32_to(const void *x, float *y, uint64_t n);
void ferry_rows_f32_from(const float *x, void *y, uint64_t n);
void ferry_rows_f16_to(const void *x, float *y, uint64_t n);
void ferry_rows_f16_from(const float *x, void *y, uint64_t n);
void ferry_rows_bf16_to(const void *x, float *y, uint64_t n);
void ferry_rows_bf16_from(const float *x, void *y, uint64_t n);
void ferry_rows_f64_to(const void *x, float *y, uint64_t n);
void ferry_rows_i8_to(const void *x, float *y, uint64_t n);
void ferry_rows_i16_to(const void *x, float *y, uint64_t n);
void ferry_rows_i32_to(const void *x, float *y, uint64_t n);
void ferry_rows_i64_to(const void *x, float *y, uint64_t n);
void ferry_rows_u8_to(const void *x, float *y, uint64_t n);
void ferry_rows_u16_to(const void *x, float *y, uint64_t n);
void ferry_rows_u32_to(const void *x, float *y, uint64_t n);
void ferry_rows_u64_to(const void *x, float *y, uint64_t n);
void ferry_rows_bool_to(const void *x, float *y, uint64_t n);
void ferry_rows_q8_0_to(const void *x, float *y, uint64_t n);
void ferry_rows_q8_0_from(const float *x, void *y, uint64_t n);
void ferry_rows_q4_0_to(const void *x, float *y, uint64_t n);
void ferry_rows_q4_0_from(const float *x, void *y, uint64_t n);
void ferry_rows_q4_1_to(const void *x, float *y, uint64_t n);
void ferry_rows_q4_1_from(const float *x, void *y, uint64_t n);
void ferry_rows_q5_0_to(const void *x, float *y, uint64_t n);
void ferry_rows_q5_0_from(const float *x, void *y, uint64_t n);
void ferry_rows_q5_1_to(const void *x, float *y, uint64_t n);
void ferry_rows_q5_1_from(const float *x, void *y, uint64_t n);
void ferry_rows_q2_k_to(const void *x, float *y, uint64_t n);
void ferry_rows_q3_k_to(const void *x, float *y, uint64_t n);
void ferry_rows_q4_k_to(const void *x, float *y, uint64_t n);
void ferry_rows_q5_k_to(const void *x, float *y, uint64_t n);
void ferry_rows_q6_k_to(const void *x, float *y, uint64_t n);

#endif
