/* Checked arithmetic for sizes derived from input. Each returns nonzero on overflow. */
#ifndef FERRY_CKD_H
#define FERRY_CKD_H

#include <stdint.h>

static inline int ckd_add_u64(uint64_t *r, uint64_t a, uint64_t b)
{
    return __builtin_add_overflow(a, b, r);
}

static inline int ckd_mul_u64(uint64_t *r, uint64_t a, uint64_t b)
{
    return __builtin_mul_overflow(a, b, r);
}

/* Rounds o up to a multiple of align (a power of two or any nonzero value). */
static inline int ckd_pad_u64(uint64_t *r, uint64_t o, uint64_t align)
{
    uint64_t rem = o % align;
    return ckd_add_u64(r, o, rem ? align - rem : 0);
}

#endif
