/* Helper for tests/interop/numpy_formats.py: reads a float32 .npy and writes its F16 and
 * BF16 conversions (as uint16 .npy) so numpy and PyTorch can judge the rounding. */
#include "ferry/half.h"
#include "ferry/npy.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: half_oracle IN_F32.npy OUT_F16.npy OUT_BF16.npy\n");
        return 64;
    }
    struct ferry_ckpt ck;
    struct ferry_error err;
    ferry_ckpt_init(&ck);
    ferry_error_clear(&err);
    if (ferry_npy_read(&ck, argv[1], &err) || ck.tensors[0].dtype != FERRY_DT_F32) {
        fprintf(stderr, "cannot read %s: %s\n", argv[1], err.cause);
        return 65;
    }
    const struct ferry_tensor *t = &ck.tensors[0];
    uint16_t *h = malloc((size_t)t->nelem * 2), *b = malloc((size_t)t->nelem * 2);
    float *x = malloc((size_t)t->nbytes);
    if (!h || !b || !x || ferry_tensor_read(&ck, t, 0, t->nbytes, x, &err)) return 70;
    ferry_fp32_to_fp16_row(x, h, (size_t)t->nelem);
    ferry_fp32_to_bf16_row(x, b, (size_t)t->nelem);
    int rc = ferry_npy_write(argv[2], 1, FERRY_DT_U16, t->ndim, t->shape, h, &err) ||
             ferry_npy_write(argv[3], 1, FERRY_DT_U16, t->ndim, t->shape, b, &err);
    free(h), free(b), free(x);
    ferry_ckpt_free(&ck);
    return rc ? 74 : 0;
}
