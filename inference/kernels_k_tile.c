/* Prompt batches of Q4_K and Q6_K rows with integer products (see kernels_k.h). A block of
 * rows is decoded once into levels (Q4_K 0..15, Q6_K 0..63, one byte each, in element order),
 * the sub-block scales as 16-bit vectors that line up with the pair products, the block scales
 * as floats and what comes off per 16 elements as floats (Q4_K: dmin * min; Q6_K: the -32 of
 * every level, 32 * d * scale). Tiles of two rows by four tokens then take, per 64 elements,
 * one u8 x s8 pair product (maddubs) and one scaled sum into 32-bit lanes (dpwssd) for each
 * row and token; each super-block's sums become float once. The offsets come off at the end as
 * one short float dot product per row and token with the activations' sums (q8k_mins). */
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

/* one decoded super-block: 256 levels, four 64-byte scale vectors */
#define DEC_BLOCK (256 + 4 * 64)

size_t kq_decoded_bytes(uint64_t cols)
{
    uint64_t nb = cols / 256;
    return nb * DEC_BLOCK + nb * sizeof(float) + cols / 16 * sizeof(float);
}

static void q4k_decode(const uint8_t *w, uint64_t nb, uint8_t *out)
{
    float *d = (float *)(void *)(out + nb * DEC_BLOCK), *mins = d + nb;
    for (uint64_t b = 0; b < nb; b++, w += 144) {
        uint8_t *lv = out + b * DEC_BLOCK, sm[16];
        int16_t *sc = (int16_t *)(void *)(lv + 256);
        q4k_unpack(w + 4, sm);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = w + 16 + 32 * c;
            for (int l = 0; l < 32; l++) {
                lv[64 * c + l] = q[l] & 15;
                lv[64 * c + 32 + l] = q[l] >> 4;
            }
            for (int l = 0; l < 16; l++) {
                sc[32 * c + l] = sm[2 * c];
                sc[32 * c + 16 + l] = sm[2 * c + 1];
            }
        }
        d[b] = ferry_fp16_le(w);
        float dmin = ferry_fp16_le(w + 2);
        for (int g = 0; g < 16; g++) mins[16 * b + (uint64_t)g] = dmin * sm[8 + g / 2];
    }
}

/* Q6_K block: ql[128], qh[64], scales[16] (int8 per 16 values), d (kernels_k.c) */
static void q6k_decode(const uint8_t *w, uint64_t nb, uint8_t *out)
{
    float *d = (float *)(void *)(out + nb * DEC_BLOCK), *mins = d + nb;
    for (uint64_t b = 0; b < nb; b++, w += 210) {
        uint8_t *lv = out + b * DEC_BLOCK;
        int16_t *sc = (int16_t *)(void *)(lv + 256);
        q6k_levels(w, lv);
        const int8_t *s8 = (const int8_t *)(w + 192);
        for (int i = 0; i < 128; i++) sc[i] = s8[i / 8]; /* pair lane i: values 2i, 2i + 1 */
        d[b] = ferry_fp16_le(w + 208);
        for (int g = 0; g < 16; g++) mins[16 * b + (uint64_t)g] = 32 * d[b] * s8[g];
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

/* y[t][r] for one decoded row and one token, portably (tests, leftovers) */
static float decoded_dot_c(const uint8_t *row, const struct q8k *x, const float *xm, uint64_t nb)
{
    const float *d = (const float *)(const void *)(row + nb * DEC_BLOCK), *mins = d + nb;
    float sum = 0, off = 0;
    for (uint64_t b = 0; b < nb; b++) {
        const uint8_t *lv = row + b * DEC_BLOCK;
        const int16_t *sc = (const int16_t *)(const void *)(lv + 256);
        int s = 0;
        for (int i = 0; i < 256; i++) s += lv[i] * x[b].qs[i] * sc[i / 2 % 32 + 32 * (i / 64)];
        sum += d[b] * x[b].d * (float)s;
    }
    for (uint64_t j = 0; j < 16 * nb; j++) off += mins[j] * xm[j];
    return sum - off;
}

#if X86
#define TILE_FN                                                                                    \
    __attribute__((target("avx512f,avx512bw,avx512vnni,fma"), always_inline)) static inline

TILE_FN float mins_dot(const float *m, const float *xm, uint64_t n)
{
    __m512 s = _mm512_setzero_ps();
    uint64_t j = 0;
    for (; j + 16 <= n; j += 16)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(m + j), _mm512_loadu_ps(xm + j), s);
    float t = _mm512_reduce_add_ps(s);
    for (; j < n; j++) t += m[j] * xm[j];
    return t;
}

/* nr (1 or 2) decoded rows rs bytes apart times four tokens */
TILE_FN void tile_n(const uint8_t *rows, size_t rs, const int nr, const struct q8k *const *x,
                    const float *const *xm, uint64_t nb, float *out /* [4][nr] */)
{
    __m512 acc[2][4];
    for (int a = 0; a < nr; a++)
        for (int t = 0; t < 4; t++) acc[a][t] = _mm512_setzero_ps();
    for (uint64_t b = 0; b < nb; b++) {
        __m512i s[2][4];
        for (int a = 0; a < nr; a++)
            for (int t = 0; t < 4; t++) s[a][t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i xv[4];
            for (int t = 0; t < 4; t++)
                xv[t] = _mm512_loadu_si512((const void *)(x[t][b].qs + 64 * c));
            for (int a = 0; a < nr; a++) {
                const uint8_t *lv = rows + (size_t)a * rs + b * DEC_BLOCK;
                __m512i w = _mm512_loadu_si512((const void *)(lv + 64 * c));
                __m512i sc = _mm512_loadu_si512((const void *)(lv + 256 + 64 * c));
                for (int t = 0; t < 4; t++)
                    s[a][t] = _mm512_dpwssd_epi32(s[a][t], _mm512_maddubs_epi16(w, xv[t]), sc);
            }
        }
        for (int a = 0; a < nr; a++) {
            const float *d = (const float *)(const void *)(rows + (size_t)a * rs + nb * DEC_BLOCK);
            __m512 da = _mm512_set1_ps(d[b]);
            for (int t = 0; t < 4; t++)
                acc[a][t] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[a][t]),
                                    _mm512_mul_ps(da, _mm512_set1_ps(x[t][b].d)), acc[a][t]);
        }
    }
    for (int a = 0; a < nr; a++) {
        const float *mins =
            (const float *)(const void *)(rows + (size_t)a * rs + nb * DEC_BLOCK) + nb;
        for (int t = 0; t < 4; t++)
            out[t * nr + a] = _mm512_reduce_add_ps(acc[a][t]) - mins_dot(mins, xm[t], 16 * nb);
    }
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
