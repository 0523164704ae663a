/* Q8_0 quantization (the AVX-512 path where the CPU has it, the scalar loop elsewhere) against
 * ggml's reference definition written out here: d = max|x| / 127, each value x * (1 / d)
 * rounded half away from zero (roundf), on blocks built to hit the edges: exact halves (a
 * round-half-to-even or a strict > would differ), subnormal values beside a normal largest
 * one, large and mixed magnitudes, all-zero blocks. (A block whose largest value is itself
 * subnormal has an infinite 1 / d, which ggml converts to int8 with undefined behaviour.) */
#include "check.h"
#include "ferry/half.h"
#include "ferry/quant.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t seed = 7;
static uint32_t next(void)
{
    seed = seed * 1664525u + 1013904223u;
    return seed >> 8;
}

int main(void)
{
    enum { BLOCKS = 4000, N = 32 * BLOCKS };
    float *x = malloc(N * sizeof(float));
    uint8_t *y = malloc(BLOCKS * 34);
    if (!x || !y) return 1;
    for (int i = 0; i < N; i++) {
        int b = i / 32, kind = b % 5;
        if (kind == 0) /* halves: d is 1 when the block's largest value is 127 */
            x[i] = i % 32 == 0 ? 127.0f
                               : (float)((int)(next() % 255) - 127) + (next() % 2 ? 0.5f : -0.5f);
        else if (kind == 1)
            x[i] = i % 32 == 5 ? 3e-30f /* subnormal values beside a normal largest one */
                               : (float)((int)(next() % 2001) - 1000) * 1e-41f;
        else if (kind == 2)
            x[i] = 0.0f;
        else
            x[i] = ((float)next() / 16777216.0f - 0.5f) * (float)(1u << (next() % 24));
    }
    CHECK(ferry_from_float(FERRY_DT_Q8_0, x, y, N) == 0);
    int bad = 0;
    for (int b = 0; b < BLOCKS; b++) {
        const float *xb = x + 32 * b;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        bad += ferry_fp16_to_fp32((uint16_t)(y[34 * b] | y[34 * b + 1] << 8)) !=
               ferry_fp16_to_fp32(ferry_fp32_to_fp16(d));
        for (int j = 0; j < 32; j++) bad += (int8_t)y[34 * b + 2 + j] != (int8_t)roundf(xb[j] * id);
    }
    CHECK(bad == 0);
    printf("%d blocks, %d values differ from ggml's definition\n", BLOCKS, bad);
    free(x);
    free(y);
    return check_failures;
}
