/* The common model of a checkpoint: mapped files, typed metadata and a tensor table.
 * Every reader (GGUF, safetensors, PyTorch, llama2.c) fills one of these; shapes are
 * outermost-first whatever the format stores. */
#ifndef FERRY_CKPT_H
#define FERRY_CKPT_H

#include <stdint.h>
#include "ferry/dtype.h"
#include "ferry/error.h"
#include "ferry/file.h"

#define FERRY_MAX_DIMS 8

/* Metadata value types: the GGUF ids, used for every format. */
enum ferry_vtype {
    FERRY_V_U8 = 0,
    FERRY_V_I8 = 1,
    FERRY_V_U16 = 2,
    FERRY_V_I16 = 3,
    FERRY_V_U32 = 4,
    FERRY_V_I32 = 5,
    FERRY_V_F32 = 6,
    FERRY_V_BOOL = 7,
    FERRY_V_STRING = 8,
    FERRY_V_ARRAY = 9,
    FERRY_V_U64 = 10,
    FERRY_V_I64 = 11,
    FERRY_V_F64 = 12,
    FERRY_V_COUNT = 13
};

struct ferry_str {
    char *s; /* NUL-terminated copy (may contain inner NULs; use len) */
    uint64_t len;
};

struct ferry_value {
    enum ferry_vtype type;
    enum ferry_vtype elem_type; /* arrays */
    uint64_t count;             /* arrays */
    union {
        uint64_t u;
        int64_t i;
        double f;
        struct ferry_str str;
    } v;
    void *arr; /* arrays: count elements, native scalars (uint8_t..double, bool as uint8_t)
                  or struct ferry_str for strings */
};

struct ferry_kv {
    char *key;
    struct ferry_value val;
};

struct ferry_tensor {
    char *name;
    enum ferry_dtype dtype;
    uint32_t ndim;
    uint64_t shape[FERRY_MAX_DIMS]; /* outermost first */
    uint64_t nelem;
    uint64_t nbytes;                 /* size as a contiguous array */
    uint64_t offset;                 /* file offset of the first element */
    const uint8_t *data;             /* into the file's mapping */
    int contiguous;                  /* 0: strides below apply (PyTorch views) */
    int64_t strides[FERRY_MAX_DIMS]; /* in elements */
    int byteswap;                    /* stored big-endian */
    uint32_t file;                   /* index into ferry_ckpt.files */
};

struct ferry_ckpt {
    const char *format; /* "gguf", "safetensors", "pytorch", "llama2c", ... */
    uint32_t version;   /* format version where one exists */
    struct ferry_map *files;
    uint32_t nfiles;
    struct ferry_kv *kvs;
    uint64_t nkvs;
    struct ferry_tensor *tensors;
    uint64_t ntensors;
    uint64_t data_offset; /* GGUF: start of the tensor data section of file 0 */
    uint32_t alignment;   /* GGUF alignment */
};

/* Supplies bytes [off, off+n) of tensor i of a description being written. */
typedef int (*ferry_tensor_source)(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                                   struct ferry_error *err);

void ferry_ckpt_init(struct ferry_ckpt *ck);
void ferry_ckpt_free(struct ferry_ckpt *ck);

/* Opens any supported file or model directory (format detected from content). */
int ferry_ckpt_open(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

/* Maps another file into ck; returns its index in *idx. */
int ferry_ckpt_add_file(struct ferry_ckpt *ck, const char *path, uint32_t *idx,
                        struct ferry_error *err);
/* Adds size bytes of memory as a "file" of ck (a decompressed zip entry: tensors point into
 * it as into a mapping, and it is released with ck); *data is where to write them. */
int ferry_ckpt_add_memory(struct ferry_ckpt *ck, const char *name, uint64_t size, uint8_t **data,
                          uint32_t *idx, struct ferry_error *err);
/* Appends a tensor (name copied); returns it, or NULL when out of memory. */
struct ferry_tensor *ferry_ckpt_add_tensor(struct ferry_ckpt *ck, const char *name, size_t len);
/* Appends a key (copied) with a zeroed value; NULL when out of memory. */
struct ferry_kv *ferry_ckpt_add_kv(struct ferry_ckpt *ck, const char *key, size_t len);
const struct ferry_kv *ferry_ckpt_find_kv(const struct ferry_ckpt *ck, const char *key);
const struct ferry_tensor *ferry_ckpt_find_tensor(const struct ferry_ckpt *ck, const char *name);
int ferry_ckpt_kv_set_string(struct ferry_kv *kv, const char *s, size_t len);
/* Replaces t's text (freed) with a NUL-terminated copy of len bytes; 0 or -1 (out of memory). */
int ferry_str_set(struct ferry_str *t, const char *s, size_t len);

/* Element count of a shape with overflow check (nonzero on overflow). */
int ferry_shape_nelem(const uint64_t *shape, uint32_t ndim, uint64_t *out);

/* Integer value of a numeric scalar kv; nonzero if not an integer type. */
int ferry_value_as_i64(const struct ferry_value *v, int64_t *out);
const char *ferry_vtype_name(enum ferry_vtype t);
uint32_t ferry_vtype_size(enum ferry_vtype t); /* 0 for string/array */

/* Copies bytes [off, off+n) of the tensor's data laid out as a contiguous little-endian
 * array into dst. Handles strided and byte-swapped PyTorch storages (off and n must then be
 * multiples of the element size). */
int ferry_tensor_read(const struct ferry_ckpt *ck, const struct ferry_tensor *t, uint64_t off,
                      uint64_t n, void *dst, struct ferry_error *err);

/* Names the object (key or tensor) in err when the failing call did not. */
void ferry_error_object(struct ferry_error *err, const char *object);

#endif
