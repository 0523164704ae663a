/* Prompt batches of Q4_K and Q6_K rows with integer products (see kernels_k.h). Both sides of
 * a product are put in "tile order": in each 256-value block, 32-bit lane l (0..15) of the k-th
 * 64-byte vector holds values 16l + 4k .. 16l + 4k + 3, so every lane of every vector holds
 * values of one group of 16, the group Q6_K scales and half a Q4_K sub-block. Activations
 * (Q8_K) are put in that order once per batch (q8k_tile_order); a block of rows is decoded
 * once into levels in that order (Q4_K 0..15, Q6_K 0..63, one byte each) and 16 floats per
 * block, d times the scale of each lane's group. Tiles of two rows by four tokens then take
 * one u8 x s8 product of four pairs (dpbusd) per 64 values for each row and token; after the
 * four of a block each lane holds its group's sum, which becomes float, times the token's d,
 * times the lane's scale. The offsets (Q4_K: dmin * min; Q6_K: the -32 of every level, 32 *
 * d * scale) come off at the end as one short float dot product per row and token with the
 * activations' sums per 16 values (q8k_mins). */
#include "kernels_k.h"
#include "ferry/cpu.h"
#include "ferry/half.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define X86 1
#else
#define X86 0
#endif

/* one decoded super-block: 256 levels in tile order, then 16 lane scales and what comes off
 * each group of 16 values per unit of the activations' sum (floats) */
#define DEC_BLOCK (256 + 32 * sizeof(float))

size_t kq_decoded_bytes(uint64_t cols)
{
    return cols / 256 * DEC_BLOCK;
}

/* 256 bytes of a block in tile order: values 16l + 4k .. + 3 to lane l of vector k */
static void tile_order(const void *in, void *out)
{
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 16; l++)
            memcpy((uint8_t *)out + 64 * k + 4 * l, (const uint8_t *)in + 16 * l + 4 * k, 4);
}

void q8k_tile_order(struct q8k *x, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++) {
        int8_t t[256];
        tile_order(x[b].qs, t);
        memcpy(x[b].qs, t, sizeof(t));
    }
}

static void q4k_decode(const uint8_t *w, uint64_t nb, uint8_t *out)
{
    for (uint64_t b = 0; b < nb; b++, w += 144) {
        uint8_t *lv = out + b * DEC_BLOCK, sm[16], nat[256];
        float *ls = (float *)(void *)(lv + 256), *mins = ls + 16;
        q4k_unpack(w + 4, sm);
        for (int c = 0; c < 4; c++) { /* 32 bytes: low nibbles sub-block 2c, high 2c + 1 */
            const uint8_t *q = w + 16 + 32 * c;
            for (int l = 0; l < 32; l++) {
                nat[64 * c + l] = q[l] & 15;
                nat[64 * c + 32 + l] = q[l] >> 4;
            }
        }
        tile_order(nat, lv);
        float d = ferry_fp16_le(w), dmin = ferry_fp16_le(w + 2);
        for (int g = 0; g < 16; g++) {
            ls[g] = d * sm[g / 2];
            mins[g] = dmin * sm[8 + g / 2];
        }
    }
}

/* Q6_K block: ql[128], qh[64], scales[16] (int8 per 16 values), d (kernels_k.c) */
static void q6k_decode(const uint8_t *w, uint64_t nb, uint8_t *out)
{
    for (uint64_t b = 0; b < nb; b++, w += 210) {
        uint8_t *lv = out + b * DEC_BLOCK, nat[256];
        float *ls = (float *)(void *)(lv + 256), *mins = ls + 16;
        q6k_levels(w, nat);
        tile_order(nat, lv);
        const int8_t *s8 = (const int8_t *)(w + 192);
        float d = ferry_fp16_le(w + 208);
        for (int g = 0; g < 16; g++) {
            ls[g] = d * s8[g];
            mins[g] = 32 * d * s8[g];
        }
    }
}

void kq_decode_row(enum ferry_dtype dt, const uint8_t *w, uint64_t cols, uint8_t *out)
{
    if (dt == FERRY_DT_Q4_K)
        q4k_decode(w, cols / 256, out);
    else
        q6k_decode(w, cols / 256, out);
}

void q8k_mins(const struct q8k *x, uint64_t nb, float *out)
{
    for (uint64_t b = 0; b < nb; b++)
        for (int g = 0; g < 16; g++) out[16 * b + (uint64_t)g] = x[b].d * (float)x[b].bsums[g];
}

/* y[t][r] for one decoded row and one token in tile order, portably (tests) */
static float decoded_dot_c(const uint8_t *row, const struct q8k *x, const float *xm, uint64_t nb)
{
    float sum = 0;
    for (uint64_t b = 0; b < nb; b++) {
        const uint8_t *lv = row + b * DEC_BLOCK;
        const float *ls = (const float *)(const void *)(lv + 256), *mins = ls + 16;
        for (int l = 0; l < 16; l++) {
            int s = 0;
            for (int k = 0; k < 4; k++)
                for (int i = 0; i < 4; i++)
                    s += lv[64 * k + 4 * l + i] * x[b].qs[64 * k + 4 * l + i];
            sum += (float)s * x[b].d * ls[l] - mins[l] * xm[16 * b + (uint64_t)l];
        }
    }
    return sum;
}

#if X86
#define TILE_FN                                                                                    \
    __attribute__((target("avx512f,avx512bw,avx512vnni,fma"), always_inline)) static inline
/* the tile's loops unrolled whole, so that its accumulators stay in registers */
#define UNROLL _Pragma("GCC unroll 8")

/* nr (1 or 2) decoded rows rs bytes apart times four tokens */
TILE_FN void tile_n(const uint8_t *rows, size_t rs, const int nr, const struct q8k *const *x,
                    const float *const *xm, uint64_t nb, float *out /* [4][nr] */)
{
    __m512 acc[2][4];
    UNROLL for (int a = 0; a < nr; a++) UNROLL for (int t = 0; t < 4; t++) acc[a][t] =
        _mm512_setzero_ps();
    for (uint64_t b = 0; b < nb; b++) {
        __m512i s[2][4];
        UNROLL for (int a = 0; a < nr; a++) UNROLL for (int t = 0; t < 4; t++) s[a][t] =
            _mm512_setzero_si512();
        UNROLL for (int k = 0; k < 4; k++)
        {
            __m512i xv[4];
            UNROLL for (int t = 0; t < 4; t++) xv[t] =
                _mm512_loadu_si512((const void *)(x[t][b].qs + 64 * k));
            UNROLL for (int a = 0; a < nr; a++)
            {
                __m512i w = _mm512_loadu_si512(
                    (const void *)(rows + (size_t)a * rs + b * DEC_BLOCK + 64 * k));
                UNROLL for (int t = 0; t < 4; t++) s[a][t] = _mm512_dpbusd_epi32(s[a][t], w, xv[t]);
            }
        }
        UNROLL for (int a = 0; a < nr; a++)
        {
            const float *ls =
                (const float *)(const void *)(rows + (size_t)a * rs + b * DEC_BLOCK + 256);
            __m512 lsv = _mm512_loadu_ps(ls), mv = _mm512_loadu_ps(ls + 16);
            UNROLL for (int t = 0; t < 4; t++) acc[a][t] =
                _mm512_fnmadd_ps(mv, _mm512_loadu_ps(xm[t] + 16 * b),
                                 _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s[a][t]),
                                                               _mm512_set1_ps(x[t][b].d)),
                                                 lsv, acc[a][t]));
        }
    }
    UNROLL for (int a = 0; a < nr; a++) UNROLL for (int t = 0; t < 4; t++) out[t * nr + a] =
        _mm512_reduce_add_ps(acc[a][t]);
}

__attribute__((target("avx512f,avx512bw,avx512vnni,fma"))) static void
tile_vnni(const uint8_t *rows, size_t rs, int nr, const struct q8k *const *x,
          const float *const *xm, uint64_t nb, float *out)
{
    if (nr == 2)
        tile_n(rows, rs, 2, x, xm, nb, out);
    else
        tile_n(rows, rs, 1, x, xm, nb, out);
}
#endif

static void tile_c(const uint8_t *rows, size_t rs, int nr, const struct q8k *const *x,
                   const float *const *xm, uint64_t nb, float *out)
{
    for (int a = 0; a < nr; a++)
        for (int t = 0; t < 4; t++)
            out[t * nr + a] = decoded_dot_c(rows + (size_t)a * rs, x[t], xm[t], nb);
}

static kq_tile_fn best;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void)
{
#if X86
    const struct ferry_cpu *c = ferry_cpu_detect();
    if (c->avx512f && c->avx512bw && c->avx512vnni && c->fma) best = tile_vnni;
#endif
}

kq_tile_fn kq_tile(int portable)
{
    pthread_once(&once, choose);
    return portable ? tile_c : best;
}
