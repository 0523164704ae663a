/* Matrix-vector and matrix-matrix kernels for the forward pass, one dot product per weight
 * type: F32, F16, BF16 with float activations; Q8_0 and Q4_0 with activations quantized to Q8_0
 * blocks and integer dot products (as llama.cpp does); Q4_K and Q6_K with activations quantized
 * to Q8_K (kernels_k.c), longer batches in integer tiles over rows decoded once
 * (kernels_k_tile.c) or, without AVX-512 VNNI, over rows made float once. Prompt batches of
 * float rows go through register tiles. AVX2/FMA/F16C/AVX-512 paths are chosen at run time. */
#ifndef FERRY_INFERENCE_KERNELS_H
#define FERRY_INFERENCE_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/dtype.h"

struct weight {
    const uint8_t *data;
    enum ferry_dtype dt;
    uint64_t rows, cols, rb;  /* rb: bytes per row */
    uint8_t *owned;           /* set when the weight was materialized at load */
    enum ferry_dtype file_dt; /* its type in the file (dt is what is computed) */
    uint8_t *rep;             /* Q4_0/Q8_0 rows repacked eight at a time for this CPU, or NULL */
    const char *name;         /* its GGUF name (the model's plan owns it) */
};

int kern_native(enum ferry_dtype dt);
/* Gives w a repacked copy when this CPU has a faster kernel for that layout (Q4_0 and Q8_0
 * with AVX512-VNNI); w->data stays as it is. The caller frees w->rep. */
void kern_repack(struct weight *w);
/* Bytes of the activations of a batch of T tokens prepared for w (0: use float activations),
 * and T of them prepared, of a batch of `batch` tokens (its size chooses the layout). */
size_t kern_xq_bytes(const struct weight *w, uint32_t T);
void kern_prepare_x(const struct weight *w, const float *x, uint32_t T, uint32_t batch, void *xq);
#define KERN_SCRATCH_ROWS 16
/* y[t * ystride + r] = W[r] . x[t] for rows [r0, r1); scratch holds KERN_SCRATCH_ROWS * w->cols
 * floats. */
void kern_matmul(const struct weight *w, const float *x, const void *xq, uint32_t T, float *y,
                 uint64_t ystride, uint64_t r0, uint64_t r1, float *scratch);
/* One row of w as float (embedding lookups). */
void kern_row(const struct weight *w, uint64_t r, float *out);
float kern_dot_f32(const float *a, const float *b, uint64_t n);

#endif
