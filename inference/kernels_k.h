/* Dot products of Q4_K and Q6_K weight rows with activations quantized to Q8_K blocks (256
 * values: a float scale, int8 levels and the sums of each 16 levels), as llama.cpp pairs
 * them (kernels_k.c). */
#ifndef FERRY_INFERENCE_KERNELS_K_H
#define FERRY_INFERENCE_KERNELS_K_H

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

#endif
