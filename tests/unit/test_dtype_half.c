/* dtype table and scalar float conversions. */
#include "check.h"
#include "ferry/dtype.h"
#include "ferry/half.h"

#include <math.h>
#include <string.h>

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int main(void)
{
    /* every ggml id maps back to itself; removed ids and ids >= 40 are unknown */
    for (int dt = 1; dt < FERRY_DT_COUNT; dt++) {
        const struct ferry_dtype_info *in = ferry_dtype_lookup((enum ferry_dtype)dt);
        CHECK(in->blck > 0 && in->bsize > 0);
        if (in->ggml_id >= 0) CHECK((int)ferry_dtype_from_ggml((uint32_t)in->ggml_id) == dt);
        CHECK((int)ferry_dtype_from_name(in->name) == dt);
    }
    uint32_t removed[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 1000};
    for (size_t i = 0; i < sizeof(removed) / sizeof(removed[0]); i++)
        CHECK(ferry_dtype_from_ggml(removed[i]) == FERRY_DT_INVALID);
    CHECK(ferry_dtype_from_safetensors("Q8_0") == FERRY_DT_INVALID);
    CHECK(ferry_dtype_from_safetensors("F8_E4M3") == FERRY_DT_F8_E4M3);
    uint64_t nb;
    CHECK(ferry_dtype_nbytes(FERRY_DT_Q4_K, 512, &nb) == 0 && nb == 288);
    CHECK(ferry_dtype_nbytes(FERRY_DT_Q8_0, 33, &nb) != 0);
    CHECK(ferry_dtype_nbytes(FERRY_DT_F4, 3, &nb) != 0);
    CHECK(ferry_dtype_nbytes(FERRY_DT_F6_E2M3, 8, &nb) == 0 && nb == 6);
    CHECK(ferry_dtype_nbytes(FERRY_DT_I64, UINT64_MAX / 4, &nb) != 0);

    /* every finite half survives half -> float -> half; NaNs stay NaN */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ferry_fp16_to_fp32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            CHECK(isnan(f) && (ferry_fp32_to_fp16(f) & 0x7fff) > 0x7c00);
            continue;
        }
        CHECK_EQ_U64(ferry_fp32_to_fp16(f), h);
    }
    /* rounding: ties to even, overflow, subnormals */
    CHECK_EQ_U64(ferry_fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00); /* tie, even stays */
    CHECK_EQ_U64(ferry_fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02); /* tie, rounds up to even */
    CHECK_EQ_U64(ferry_fp32_to_fp16(65519.0f), 0x7bff);
    CHECK_EQ_U64(ferry_fp32_to_fp16(65520.0f), 0x7c00);
    CHECK_EQ_U64(ferry_fp32_to_fp16(-1e-8f), 0x8000);
    CHECK_EQ_U64(ferry_fp32_to_fp16(from_bits(0x33000000u)), 0x0000); /* 2^-25 ties to 0 */
    CHECK_EQ_U64(ferry_fp32_to_fp16(from_bits(0x33000001u)), 0x0001);
    CHECK_EQ_U64(ferry_fp32_to_fp16(5.9604645e-08f * 3), 0x0003);
    /* bf16: round to nearest even, quiet NaN, no flush of subnormals */
    CHECK_EQ_U64(ferry_fp32_to_bf16(from_bits(0x3f808000u)), 0x3f80); /* tie to even */
    CHECK_EQ_U64(ferry_fp32_to_bf16(from_bits(0x3f818000u)), 0x3f82);
    CHECK_EQ_U64(ferry_fp32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);
    CHECK_EQ_U64(ferry_fp32_to_bf16(from_bits(0x00010000u)), 0x0001);
    CHECK_EQ_U64(bits(ferry_bf16_to_fp32(0xc049)), 0xc0490000u);
    return check_report("test_dtype_half");
}
