/* An allow-list interpreter for the pickles inside PyTorch checkpoints. It implements the
 * opcodes of torch's weights_only unpickler and builds plain objects; the only callables it
 * knows are the tensor-rebuilding functions and containers of the allow-list, so loading a
 * file can never run code. Anything else is refused with the global's name. */
#ifndef FERRY_PICKLE_H
#define FERRY_PICKLE_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/ckpt.h"
#include "cursor.h"

enum pk_kind {
    PK_MARK,
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_FLOAT,
    PK_STR,
    PK_BYTES,
    PK_TUPLE,
    PK_LIST,
    PK_DICT,
    PK_SET,
    PK_GLOBAL,
    PK_DTYPE,
    PK_STORAGE,
    PK_TENSOR,
    PK_OPAQUE,
    PK_BIGINT /* LONG1 wider than 64 bits: raw little-endian bytes in u.str */
};

struct pk_storage {
    enum ferry_dtype dtype;
    char *key;
    uint64_t numel;       /* elements of dtype */
    const uint8_t *data;  /* into the mapping */
    uint64_t file_offset; /* offset of data in the file */
    int32_t file;         /* the checkpoint file holding it, or -1: the one being read */
    int byteswap;
    uint64_t view_offset; /* legacy format: elements into the root storage */
};

struct pk_tensor {
    struct pk_obj *storage; /* PK_STORAGE */
    enum ferry_dtype dtype;
    uint64_t offset; /* in elements */
    uint32_t ndim;
    uint64_t shape[FERRY_MAX_DIMS];
    int64_t stride[FERRY_MAX_DIMS];
};

struct pk_obj {
    enum pk_kind kind;
    struct pk_obj *next_alloc; /* arena chain */
    union {
        int64_t i;
        double f;
        struct {
            char *s;
            size_t len;
        } str; /* PK_STR, PK_BYTES */
        struct {
            struct pk_obj **items;
            size_t n, cap;
        } seq;      /* tuple, list, set, dict (keys and values alternate) */
        int global; /* PK_GLOBAL: index in the allow-list */
        enum ferry_dtype dtype;
        struct pk_storage storage;
        struct pk_tensor tensor;
    } u;
};

struct pickle;
/* Turns a persistent id (the tuple of BINPERSID) into a PK_STORAGE object. */
typedef int (*pk_persistent_load)(struct pickle *pk, void *ctx, struct pk_obj *pid,
                                  struct pk_obj **out);

struct pickle {
    struct cursor cur;
    pk_persistent_load load;
    void *load_ctx;
    struct pk_obj *arena;
    struct pk_obj **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    struct pk_obj **memo;
    size_t memo_cap;
    size_t memo_n; /* distinct memo slots in use (MEMOIZE's next index) */
    uint64_t nobjs; /* objects made: bounds the work of walking what they form */
};

void pk_init(struct pickle *pk, const uint8_t *base, uint64_t start, uint64_t end, const char *path,
             struct ferry_error *err);
void pk_free(struct pickle *pk);
/* Runs until STOP; *result is owned by pk's arena. */
int pk_run(struct pickle *pk, struct pk_obj **result);
struct pk_obj *pk_new(struct pickle *pk, enum pk_kind kind);

/* Appends every tensor reachable from root to ck, names joined with '.'. */
int pk_collect_tensors(struct pickle *pk, struct pk_obj *root, struct ferry_ckpt *ck,
                       uint32_t file);

#endif
