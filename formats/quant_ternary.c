/* The ternary quantizers TQ1_0 and TQ2_0 (ggml's quantize_row_tq1_0_ref / _tq2_0_ref): each
 * value becomes -1, 0 or 1 times the block's largest magnitude, rounded with lroundf (written
 * as ggml writes it, so NaN and infinities give its bytes too). TQ1_0 packs five trits per
 * byte as a fixed-point fraction of 3^5 (four in the last 4 bytes), TQ2_0 four 2-bit values. */
#include "ferry/half.h"
#include "quant_lut.h"

#include <math.h>

static float block_amax(const float *x)
{
    float amax = 0.0f;
    for (int j = 0; j < 256; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]); /* ggml's MAX */
    return amax;
}

static inline int trit(float v, float id) /* -1, 0, 1 -> 0, 1, 2 */
{
    return (int)(lroundf(v * id) + 1);
}

/* n trits of x (stride apart) as one byte: base-3 digits, then scaled to a fraction of 256 */
static uint8_t pack_trits(const float *x, int stride, int n, float id)
{
    uint8_t q = 0;
    for (int k = 0; k < n; k++) q = (uint8_t)(q * 3 + trit(x[k * stride], id));
    if (n == 4) q = (uint8_t)(q * 3); /* the first value in the most significant trit */
    return (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243);
}

/* qs[48] (32 bytes over 160 values, 16 over 80), qh[4] (16 values), d; 54 bytes */
void ferry_quantize_tq1_0(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / 256; i++, b += 54) {
        float d = block_amax(x), id = d != 0 ? 1.0f / d : 0.0f;
        ferry_fp16_put_le(b + 52, d);
        for (int m = 0; m < 32; m++) b[m] = pack_trits(x + m, 32, 5, id);
        x += 160;
        for (int m = 0; m < 16; m++) b[32 + m] = pack_trits(x + m, 16, 5, id);
        x += 80;
        for (int j = 0; j < 4; j++) b[48 + j] = pack_trits(x + j, 4, 4, id);
        x += 16;
    }
}

/* qs[64] (four 2-bit values each, 32 apart), d; 66 bytes */
void ferry_quantize_tq2_0(const float *x, void *y, uint64_t n)
{
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / 256; i++, b += 66) {
        float d = block_amax(x), id = d != 0 ? 1.0f / d : 0.0f;
        ferry_fp16_put_le(b + 64, d);
        for (int j = 0; j < 64; j += 32, x += 128)
            for (int m = 0; m < 32; m++) {
                unsigned q = 0;
                for (int k = 0; k < 4; k++) q += (unsigned)(trit(x[m + 32 * k], id) & 3) << (2 * k);
                b[j + m] = (uint8_t)q;
            }
    }
}
