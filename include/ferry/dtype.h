/* The one dtype table: every safetensors dtype and every ggml type id, with block size
 * (elements per block), block bytes and its converters to and from float32. Sub-byte safetensors
 * types (F4, F6) are blocks too: F4 = 2 elements in 1 byte, F6 = 4 elements in 3 bytes. */
#ifndef FERRY_DTYPE_H
#define FERRY_DTYPE_H

#include <stdint.h>

enum ferry_dtype {
    FERRY_DT_INVALID = 0,
    /* shared by safetensors and ggml */
    FERRY_DT_F32,
    FERRY_DT_F16,
    FERRY_DT_BF16,
    FERRY_DT_F64,
    FERRY_DT_I8,
    FERRY_DT_I16,
    FERRY_DT_I32,
    FERRY_DT_I64,
    /* safetensors (and PyTorch) only */
    FERRY_DT_U8,
    FERRY_DT_U16,
    FERRY_DT_U32,
    FERRY_DT_U64,
    FERRY_DT_BOOL,
    FERRY_DT_C64,
    FERRY_DT_F4,
    FERRY_DT_F6_E2M3,
    FERRY_DT_F6_E3M2,
    FERRY_DT_F8_E5M2,
    FERRY_DT_F8_E4M3,
    FERRY_DT_F8_E8M0,
    FERRY_DT_F8_E4M3FNUZ,
    FERRY_DT_F8_E5M2FNUZ,
    /* ggml block types */
    FERRY_DT_Q4_0,
    FERRY_DT_Q4_1,
    FERRY_DT_Q5_0,
    FERRY_DT_Q5_1,
    FERRY_DT_Q8_0,
    FERRY_DT_Q8_1,
    FERRY_DT_Q2_K,
    FERRY_DT_Q3_K,
    FERRY_DT_Q4_K,
    FERRY_DT_Q5_K,
    FERRY_DT_Q6_K,
    FERRY_DT_Q8_K,
    FERRY_DT_IQ2_XXS,
    FERRY_DT_IQ2_XS,
    FERRY_DT_IQ3_XXS,
    FERRY_DT_IQ1_S,
    FERRY_DT_IQ4_NL,
    FERRY_DT_IQ3_S,
    FERRY_DT_IQ2_S,
    FERRY_DT_IQ4_XS,
    FERRY_DT_IQ1_M,
    FERRY_DT_TQ1_0,
    FERRY_DT_TQ2_0,
    FERRY_DT_MXFP4,
    FERRY_DT_COUNT
};

struct ferry_dtype_info {
    const char *name;  /* safetensors name for plain types, ggml name for block types */
    int ggml_id;       /* ggml_type id, -1 when ggml has none */
    int safetensors;   /* 1 when safetensors has this dtype string */
    uint32_t blck;     /* elements per block */
    uint32_t bsize;    /* bytes per block */
    const char *torch; /* PyTorch legacy storage class ("FloatStorage"), NULL if none */
    /* n elements (whole blocks) to float32 and back; NULL when ferry cannot (quant.h wraps) */
    void (*to_float)(const void *x, float *y, uint64_t n);
    void (*from_float)(const float *x, void *y, uint64_t n);
    /* one row of n elements with an importance weight per element (an imatrix row), as
     * llama.cpp quantizes with one; NULL when the type takes no weights */
    void (*from_float_w)(const float *x, void *y, uint64_t n, const float *w);
};

/* dt's row of the type table (never NULL: an out-of-range dt gives FERRY_DT_INVALID's row). */
const struct ferry_dtype_info *ferry_dtype_lookup(enum ferry_dtype dt);
const char *ferry_dtype_name(enum ferry_dtype dt);

/* Lookups return FERRY_DT_INVALID when unknown. */
enum ferry_dtype ferry_dtype_from_name(const char *name); /* any table name */
enum ferry_dtype ferry_dtype_from_safetensors(const char *name);
enum ferry_dtype ferry_dtype_from_ggml(uint32_t ggml_id);
enum ferry_dtype ferry_dtype_from_torch_storage(const char *cls); /* "FloatStorage" */

/* Element size in bytes for plain (blck == 1) types, 0 for block types. */
uint32_t ferry_dtype_elem_size(enum ferry_dtype dt);

/* Bytes of n elements; fails (nonzero) if n is not a multiple of the block size
 * or the size overflows. */
int ferry_dtype_nbytes(enum ferry_dtype dt, uint64_t n, uint64_t *out);

#endif
