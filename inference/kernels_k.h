/* Dot products of Q4_K and Q6_K weight rows with activations quantized to Q8_K blocks (256
 * values: a float scale, int8 levels and the sums of each 16 levels), as llama.cpp pairs
 * them (kernels_k.c). */
#ifndef FERRY_INFERENCE_KERNELS_K_H
#define FERRY_INFERENCE_KERNELS_K_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/dtype.h"

struct q8k {
    float d;
    int16_t bsums[16];
    int8_t qs[256];
};

/* n values (a multiple of 256) into n / 256 blocks */
void q8k_quantize(const float *x, struct q8k *y, uint64_t n);
/* Row w (nb super-blocks) times x. */
typedef float (*kq_dot_fn)(const uint8_t *w, const struct q8k *x, uint64_t nb);
/* The dot product for dt (FERRY_DT_Q4_K or FERRY_DT_Q6_K) this CPU runs fastest, chosen once;
 * portable: the C version whatever the CPU (for tests). */
kq_dot_fn kq_dot(enum ferry_dtype dt, int portable);

/* Q4_K's eight 6-bit scales (out[0..7]) and mins (out[8..15]) from its 12-byte array; Q6_K's
 * 256 levels (0..63, value + 32) of a block in element order. */
void q4k_unpack(const uint8_t *s, uint8_t out[16]);
void q6k_levels(const uint8_t *w, uint8_t *out);

/* Prompt batches of Q4_K and Q6_K (kernels_k_tile.c): activations put in tile order
 * (q8k_tile_order: the values of each block permuted, d and bsums as they are), rows decoded
 * once into kq_decoded_bytes(cols) each, the activations' sums per 16 values times their
 * block scale (q8k_mins: 16 floats per block), and a tile of nr (1 or 2) decoded rows rs bytes
 * apart times four tokens in tile order: out[t * nr + a]. */
size_t kq_decoded_bytes(uint64_t cols);
void kq_decode_row(enum ferry_dtype dt, const uint8_t *w, uint64_t cols, uint8_t *out);
void q8k_mins(const struct q8k *x, uint64_t nb, float *out);
void q8k_tile_order(struct q8k *x, uint64_t nb);
typedef void (*kq_tile_fn)(const uint8_t *rows, size_t rs, int nr, const struct q8k *const *x,
                           const float *const *xm, uint64_t nb, float *out);
/* NULL where this CPU has no integer tile (then batches use dequantized rows); portable: the
 * C version, for tests. */
kq_tile_fn kq_tile(int portable);

#endif
