/* The dtype table (ggml's type traits and safetensors' dtype list in one place). */
#include "ferry/dtype.h"
#include "ferry/ckd.h"

#include <string.h>

static const struct ferry_dtype_info table[FERRY_DT_COUNT] = {
    [FERRY_DT_INVALID] = {"INVALID", -1, 0, 0, 0, NULL},
    [FERRY_DT_F32] = {"F32", 0, 1, 1, 4, "FloatStorage"},
    [FERRY_DT_F16] = {"F16", 1, 1, 1, 2, "HalfStorage"},
    [FERRY_DT_BF16] = {"BF16", 30, 1, 1, 2, "BFloat16Storage"},
    [FERRY_DT_F64] = {"F64", 28, 1, 1, 8, "DoubleStorage"},
    [FERRY_DT_I8] = {"I8", 24, 1, 1, 1, "CharStorage"},
    [FERRY_DT_I16] = {"I16", 25, 1, 1, 2, "ShortStorage"},
    [FERRY_DT_I32] = {"I32", 26, 1, 1, 4, "IntStorage"},
    [FERRY_DT_I64] = {"I64", 27, 1, 1, 8, "LongStorage"},
    [FERRY_DT_U8] = {"U8", -1, 1, 1, 1, "ByteStorage"},
    [FERRY_DT_U16] = {"U16", -1, 1, 1, 2, NULL},
    [FERRY_DT_U32] = {"U32", -1, 1, 1, 4, NULL},
    [FERRY_DT_U64] = {"U64", -1, 1, 1, 8, NULL},
    [FERRY_DT_BOOL] = {"BOOL", -1, 1, 1, 1, "BoolStorage"},
    [FERRY_DT_C64] = {"C64", -1, 1, 1, 8, "ComplexFloatStorage"},
    [FERRY_DT_F4] = {"F4", -1, 1, 2, 1, NULL},
    [FERRY_DT_F6_E2M3] = {"F6_E2M3", -1, 1, 4, 3, NULL},
    [FERRY_DT_F6_E3M2] = {"F6_E3M2", -1, 1, 4, 3, NULL},
    [FERRY_DT_F8_E5M2] = {"F8_E5M2", -1, 1, 1, 1, NULL},
    [FERRY_DT_F8_E4M3] = {"F8_E4M3", -1, 1, 1, 1, NULL},
    [FERRY_DT_F8_E8M0] = {"F8_E8M0", -1, 1, 1, 1, NULL},
    [FERRY_DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", -1, 1, 1, 1, NULL},
    [FERRY_DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", -1, 1, 1, 1, NULL},
    [FERRY_DT_Q4_0] = {"Q4_0", 2, 0, 32, 18, NULL},
    [FERRY_DT_Q4_1] = {"Q4_1", 3, 0, 32, 20, NULL},
    [FERRY_DT_Q5_0] = {"Q5_0", 6, 0, 32, 22, NULL},
    [FERRY_DT_Q5_1] = {"Q5_1", 7, 0, 32, 24, NULL},
    [FERRY_DT_Q8_0] = {"Q8_0", 8, 0, 32, 34, NULL},
    [FERRY_DT_Q8_1] = {"Q8_1", 9, 0, 32, 36, NULL},
    [FERRY_DT_Q2_K] = {"Q2_K", 10, 0, 256, 84, NULL},
    [FERRY_DT_Q3_K] = {"Q3_K", 11, 0, 256, 110, NULL},
    [FERRY_DT_Q4_K] = {"Q4_K", 12, 0, 256, 144, NULL},
    [FERRY_DT_Q5_K] = {"Q5_K", 13, 0, 256, 176, NULL},
    [FERRY_DT_Q6_K] = {"Q6_K", 14, 0, 256, 210, NULL},
    [FERRY_DT_Q8_K] = {"Q8_K", 15, 0, 256, 292, NULL},
    [FERRY_DT_IQ2_XXS] = {"IQ2_XXS", 16, 0, 256, 66, NULL},
    [FERRY_DT_IQ2_XS] = {"IQ2_XS", 17, 0, 256, 74, NULL},
    [FERRY_DT_IQ3_XXS] = {"IQ3_XXS", 18, 0, 256, 98, NULL},
    [FERRY_DT_IQ1_S] = {"IQ1_S", 19, 0, 256, 50, NULL},
    [FERRY_DT_IQ4_NL] = {"IQ4_NL", 20, 0, 32, 18, NULL},
    [FERRY_DT_IQ3_S] = {"IQ3_S", 21, 0, 256, 110, NULL},
    [FERRY_DT_IQ2_S] = {"IQ2_S", 22, 0, 256, 82, NULL},
    [FERRY_DT_IQ4_XS] = {"IQ4_XS", 23, 0, 256, 136, NULL},
    [FERRY_DT_IQ1_M] = {"IQ1_M", 29, 0, 256, 56, NULL},
    [FERRY_DT_TQ1_0] = {"TQ1_0", 34, 0, 256, 54, NULL},
    [FERRY_DT_TQ2_0] = {"TQ2_0", 35, 0, 256, 66, NULL},
    [FERRY_DT_MXFP4] = {"MXFP4", 39, 0, 32, 17, NULL},
};

const struct ferry_dtype_info *ferry_dtype_info(enum ferry_dtype dt)
{
    if ((unsigned)dt >= FERRY_DT_COUNT) return &table[FERRY_DT_INVALID];
    return &table[dt];
}

const char *ferry_dtype_name(enum ferry_dtype dt)
{
    return ferry_dtype_info(dt)->name;
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
    const struct ferry_dtype_info *in = ferry_dtype_info(dt);
    return in->blck == 1 ? in->bsize : 0;
}

int ferry_dtype_nbytes(enum ferry_dtype dt, uint64_t n, uint64_t *out)
{
    const struct ferry_dtype_info *in = ferry_dtype_info(dt);
    if (in->blck == 0 || n % in->blck) return -1;
    return ckd_mul_u64(out, n / in->blck, in->bsize) ? -1 : 0;
}
