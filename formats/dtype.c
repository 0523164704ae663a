/* The dtype table (ggml's type traits and safetensors' dtype list in one place). */
#include "ferry/dtype.h"
#include "ferry/ckd.h"
#include "float8.h"
#include "quant_grid.h"
#include "quant_k.h"
#include "quant_lut.h"
#include "quant_weighted.h"
#include "rows.h"

#include <string.h>

/* One row per type, as ggml's type traits: adding a type touches its enum entry and its row
 * here (and its kernel row in inference/, when it is computed natively). */
static const struct ferry_dtype_info table[] = {
    [FERRY_DT_INVALID] = {.name = "INVALID", .ggml_id = -1, .blck = 0, .bsize = 0},
    [FERRY_DT_F32] = {.name = "F32",
                      .ggml_id = 0,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 4,
                      .torch = "FloatStorage",
                      .to_float = ferry_rows_f32_to,
                      .from_float = ferry_rows_f32_from},
    [FERRY_DT_F16] = {.name = "F16",
                      .ggml_id = 1,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 2,
                      .torch = "HalfStorage",
                      .to_float = ferry_rows_f16_to,
                      .from_float = ferry_rows_f16_from},
    [FERRY_DT_BF16] = {.name = "BF16",
                       .ggml_id = 30,
                       .safetensors = 1,
                       .blck = 1,
                       .bsize = 2,
                       .torch = "BFloat16Storage",
                       .to_float = ferry_rows_bf16_to,
                       .from_float = ferry_rows_bf16_from},
    [FERRY_DT_F64] = {.name = "F64",
                      .ggml_id = 28,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 8,
                      .torch = "DoubleStorage",
                      .to_float = ferry_rows_f64_to},
    [FERRY_DT_I8] = {.name = "I8",
                     .ggml_id = 24,
                     .safetensors = 1,
                     .blck = 1,
                     .bsize = 1,
                     .torch = "CharStorage",
                     .to_float = ferry_rows_i8_to},
    [FERRY_DT_I16] = {.name = "I16",
                      .ggml_id = 25,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 2,
                      .torch = "ShortStorage",
                      .to_float = ferry_rows_i16_to},
    [FERRY_DT_I32] = {.name = "I32",
                      .ggml_id = 26,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 4,
                      .torch = "IntStorage",
                      .to_float = ferry_rows_i32_to},
    [FERRY_DT_I64] = {.name = "I64",
                      .ggml_id = 27,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 8,
                      .torch = "LongStorage",
                      .to_float = ferry_rows_i64_to},
    [FERRY_DT_U8] = {.name = "U8",
                     .ggml_id = -1,
                     .safetensors = 1,
                     .blck = 1,
                     .bsize = 1,
                     .torch = "ByteStorage",
                     .to_float = ferry_rows_u8_to},
    [FERRY_DT_U16] = {.name = "U16",
                      .ggml_id = -1,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 2,
                      .to_float = ferry_rows_u16_to},
    [FERRY_DT_U32] = {.name = "U32",
                      .ggml_id = -1,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 4,
                      .to_float = ferry_rows_u32_to},
    [FERRY_DT_U64] = {.name = "U64",
                      .ggml_id = -1,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 8,
                      .to_float = ferry_rows_u64_to},
    [FERRY_DT_BOOL] = {.name = "BOOL",
                       .ggml_id = -1,
                       .safetensors = 1,
                       .blck = 1,
                       .bsize = 1,
                       .torch = "BoolStorage",
                       .to_float = ferry_rows_bool_to},
    [FERRY_DT_C64] = {.name = "C64",
                      .ggml_id = -1,
                      .safetensors = 1,
                      .blck = 1,
                      .bsize = 8,
                      .torch = "ComplexFloatStorage"},
    [FERRY_DT_F4] = {.name = "F4", .ggml_id = -1, .safetensors = 1, .blck = 2, .bsize = 1},
    [FERRY_DT_F6_E2M3] =
        {.name = "F6_E2M3", .ggml_id = -1, .safetensors = 1, .blck = 4, .bsize = 3},
    [FERRY_DT_F6_E3M2] =
        {.name = "F6_E3M2", .ggml_id = -1, .safetensors = 1, .blck = 4, .bsize = 3},
    [FERRY_DT_F8_E5M2] = {.name = "F8_E5M2",
                          .ggml_id = -1,
                          .safetensors = 1,
                          .blck = 1,
                          .bsize = 1,
                          .to_float = ferry_f8_e5m2_to},
    [FERRY_DT_F8_E4M3] = {.name = "F8_E4M3",
                          .ggml_id = -1,
                          .safetensors = 1,
                          .blck = 1,
                          .bsize = 1,
                          .to_float = ferry_f8_e4m3_to},
    [FERRY_DT_F8_E8M0] = {.name = "F8_E8M0",
                          .ggml_id = -1,
                          .safetensors = 1,
                          .blck = 1,
                          .bsize = 1,
                          .to_float = ferry_f8_e8m0_to},
    [FERRY_DT_F8_E4M3FNUZ] = {.name = "F8_E4M3FNUZ",
                              .ggml_id = -1,
                              .safetensors = 1,
                              .blck = 1,
                              .bsize = 1,
                              .to_float = ferry_f8_e4m3fnuz_to},
    [FERRY_DT_F8_E5M2FNUZ] = {.name = "F8_E5M2FNUZ",
                              .ggml_id = -1,
                              .safetensors = 1,
                              .blck = 1,
                              .bsize = 1,
                              .to_float = ferry_f8_e5m2fnuz_to},
    [FERRY_DT_Q4_0] = {.name = "Q4_0",
                       .ggml_id = 2,
                       .blck = 32,
                       .bsize = 18,
                       .to_float = ferry_rows_q4_0_to,
                       .from_float = ferry_rows_q4_0_from,
                       .from_float_w = ferry_quantize_q4_0_w},
    [FERRY_DT_Q4_1] = {.name = "Q4_1",
                       .ggml_id = 3,
                       .blck = 32,
                       .bsize = 20,
                       .to_float = ferry_rows_q4_1_to,
                       .from_float = ferry_rows_q4_1_from,
                       .from_float_w = ferry_quantize_q4_1_w},
    [FERRY_DT_Q5_0] = {.name = "Q5_0",
                       .ggml_id = 6,
                       .blck = 32,
                       .bsize = 22,
                       .to_float = ferry_rows_q5_0_to,
                       .from_float = ferry_rows_q5_0_from,
                       .from_float_w = ferry_quantize_q5_0_w},
    [FERRY_DT_Q5_1] = {.name = "Q5_1",
                       .ggml_id = 7,
                       .blck = 32,
                       .bsize = 24,
                       .to_float = ferry_rows_q5_1_to,
                       .from_float = ferry_rows_q5_1_from,
                       .from_float_w = ferry_quantize_q5_1_w},
    [FERRY_DT_Q8_0] = {.name = "Q8_0",
                       .ggml_id = 8,
                       .blck = 32,
                       .bsize = 34,
                       .to_float = ferry_rows_q8_0_to,
                       .from_float = ferry_rows_q8_0_from},
    [FERRY_DT_Q8_1] = {.name = "Q8_1", .ggml_id = 9, .blck = 32, .bsize = 36},
    [FERRY_DT_Q2_K] = {.name = "Q2_K",
                       .ggml_id = 10,
                       .blck = 256,
                       .bsize = 84,
                       .to_float = ferry_rows_q2_k_to,
                       .from_float = ferry_quantize_q2_k,
                       .from_float_w = ferry_quantize_q2_k_w},
    [FERRY_DT_Q3_K] = {.name = "Q3_K",
                       .ggml_id = 11,
                       .blck = 256,
                       .bsize = 110,
                       .to_float = ferry_rows_q3_k_to,
                       .from_float = ferry_quantize_q3_k,
                       .from_float_w = ferry_quantize_q3_k_w},
    [FERRY_DT_Q4_K] = {.name = "Q4_K",
                       .ggml_id = 12,
                       .blck = 256,
                       .bsize = 144,
                       .to_float = ferry_rows_q4_k_to,
                       .from_float = ferry_quantize_q4_k,
                       .from_float_w = ferry_quantize_q4_k_w},
    [FERRY_DT_Q5_K] = {.name = "Q5_K",
                       .ggml_id = 13,
                       .blck = 256,
                       .bsize = 176,
                       .to_float = ferry_rows_q5_k_to,
                       .from_float = ferry_quantize_q5_k,
                       .from_float_w = ferry_quantize_q5_k_w},
    [FERRY_DT_Q6_K] = {.name = "Q6_K",
                       .ggml_id = 14,
                       .blck = 256,
                       .bsize = 210,
                       .to_float = ferry_rows_q6_k_to,
                       .from_float = ferry_quantize_q6_k,
                       .from_float_w = ferry_quantize_q6_k_w},
    [FERRY_DT_Q8_K] = {.name = "Q8_K", .ggml_id = 15, .blck = 256, .bsize = 292},
    [FERRY_DT_IQ2_XXS] = {.name = "IQ2_XXS",
                          .ggml_id = 16,
                          .blck = 256,
                          .bsize = 66,
                          .to_float = ferry_dequant_iq2_xxs,
                          .from_float = ferry_quantize_iq2_xxs,
                          .from_float_w = ferry_quantize_iq2_xxs_w},
    [FERRY_DT_IQ2_XS] = {.name = "IQ2_XS",
                         .ggml_id = 17,
                         .blck = 256,
                         .bsize = 74,
                         .to_float = ferry_dequant_iq2_xs,
                         .from_float = ferry_quantize_iq2_xs,
                         .from_float_w = ferry_quantize_iq2_xs_w},
    [FERRY_DT_IQ3_XXS] = {.name = "IQ3_XXS",
                          .ggml_id = 18,
                          .blck = 256,
                          .bsize = 98,
                          .to_float = ferry_dequant_iq3_xxs,
                          .from_float = ferry_quantize_iq3_xxs,
                          .from_float_w = ferry_quantize_iq3_xxs_w},
    [FERRY_DT_IQ1_S] = {.name = "IQ1_S",
                        .ggml_id = 19,
                        .blck = 256,
                        .bsize = 50,
                        .to_float = ferry_dequant_iq1_s,
                        .from_float = ferry_quantize_iq1_s,
                        .from_float_w = ferry_quantize_iq1_s_w},
    [FERRY_DT_IQ4_NL] = {.name = "IQ4_NL",
                         .ggml_id = 20,
                         .blck = 32,
                         .bsize = 18,
                         .to_float = ferry_dequant_iq4_nl,
                         .from_float = ferry_quantize_iq4_nl,
                         .from_float_w = ferry_quantize_iq4_nl_w},
    [FERRY_DT_IQ3_S] = {.name = "IQ3_S",
                        .ggml_id = 21,
                        .blck = 256,
                        .bsize = 110,
                        .to_float = ferry_dequant_iq3_s,
                        .from_float = ferry_quantize_iq3_s,
                        .from_float_w = ferry_quantize_iq3_s_w},
    [FERRY_DT_IQ2_S] = {.name = "IQ2_S",
                        .ggml_id = 22,
                        .blck = 256,
                        .bsize = 82,
                        .to_float = ferry_dequant_iq2_s,
                        .from_float = ferry_quantize_iq2_s,
                        .from_float_w = ferry_quantize_iq2_s_w},
    [FERRY_DT_IQ4_XS] = {.name = "IQ4_XS",
                         .ggml_id = 23,
                         .blck = 256,
                         .bsize = 136,
                         .to_float = ferry_dequant_iq4_xs,
                         .from_float = ferry_quantize_iq4_xs,
                         .from_float_w = ferry_quantize_iq4_xs_w},
    [FERRY_DT_IQ1_M] = {.name = "IQ1_M",
                        .ggml_id = 29,
                        .blck = 256,
                        .bsize = 56,
                        .to_float = ferry_dequant_iq1_m,
                        .from_float = ferry_quantize_iq1_m,
                        .from_float_w = ferry_quantize_iq1_m_w},
    [FERRY_DT_TQ1_0] = {.name = "TQ1_0",
                        .ggml_id = 34,
                        .blck = 256,
                        .bsize = 54,
                        .to_float = ferry_dequant_tq1_0,
                        .from_float = ferry_quantize_tq1_0},
    [FERRY_DT_TQ2_0] = {.name = "TQ2_0",
                        .ggml_id = 35,
                        .blck = 256,
                        .bsize = 66,
                        .to_float = ferry_dequant_tq2_0,
                        .from_float = ferry_quantize_tq2_0},
    [FERRY_DT_MXFP4] =
        {.name = "MXFP4", .ggml_id = 39, .blck = 32, .bsize = 17, .to_float = ferry_dequant_mxfp4},
};

_Static_assert(sizeof(table) / sizeof(table[0]) == FERRY_DT_COUNT,
               "the dtype table has one row per enum ferry_dtype value");

const struct ferry_dtype_info *ferry_dtype_lookup(enum ferry_dtype dt)
{
    if ((unsigned)dt >= FERRY_DT_COUNT) return &table[FERRY_DT_INVALID];
    return &table[dt];
}

const char *ferry_dtype_name(enum ferry_dtype dt)
{
    return ferry_dtype_lookup(dt)->name;
}

enum ferry_dtype ferry_dtype_from_name(const char *name)
{
    for (int i = 1; i < FERRY_DT_COUNT; i++)
        if (strcmp(table[i].name, name) == 0) return (enum ferry_dtype)i;
    return FERRY_DT_INVALID;
}

enum ferry_dtype ferry_dtype_from_safetensors(const char *name)
{
    enum ferry_dtype dt = ferry_dtype_from_name(name);
    return table[dt].safetensors ? dt : FERRY_DT_INVALID;
}

enum ferry_dtype ferry_dtype_from_ggml(uint32_t ggml_id)
{
    for (int i = 1; i < FERRY_DT_COUNT; i++)
        if (table[i].ggml_id >= 0 && (uint32_t)table[i].ggml_id == ggml_id)
            return (enum ferry_dtype)i;
    return FERRY_DT_INVALID;
}

enum ferry_dtype ferry_dtype_from_torch_storage(const char *cls)
{
    for (int i = 1; i < FERRY_DT_COUNT; i++)
        if (table[i].torch && strcmp(table[i].torch, cls) == 0) return (enum ferry_dtype)i;
    return FERRY_DT_INVALID;
}

uint32_t ferry_dtype_elem_size(enum ferry_dtype dt)
{
    const struct ferry_dtype_info *in = ferry_dtype_lookup(dt);
    return in->blck == 1 ? in->bsize : 0;
}

int ferry_dtype_nbytes(enum ferry_dtype dt, uint64_t n, uint64_t *out)
{
    const struct ferry_dtype_info *in = ferry_dtype_lookup(dt);
    if (in->blck == 0 || n % in->blck) return -1;
    return ckd_mul_u64(out, n / in->blck, in->bsize) ? -1 : 0;
}
