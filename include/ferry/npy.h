/* NumPy .npy files (logits, test vectors): read versions 1-3, write version 1. */
#ifndef FERRY_NPY_H
#define FERRY_NPY_H

#include "ferry/ckpt.h"

/* Reads PATH into ck as one tensor named "array" (Fortran order becomes strides). */
int ferry_npy_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);
/* .npz: every member NAME.npy becomes tensor NAME (deflated members inflated into memory). */
int ferry_npz_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

/* Writes a C-order little-endian array of a plain dtype (F32, F64, F16, I8..I64, U8, BOOL). */
int ferry_npy_write(const char *path, int force, enum ferry_dtype dtype, uint32_t ndim,
                    const uint64_t *shape, const void *data, struct ferry_error *err);

#endif
