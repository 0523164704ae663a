/* Importance matrices as llama-imatrix writes them: per weight matrix, the mean square of each
 * input column over the calibration text, which quantizers use to spend precision where the
 * activations are large. Both of llama.cpp's files are read: the GGUF imatrix (tensors
 * NAME.in_sum2 and NAME.counts, keys imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size)
 * and the legacy binary .dat (entries of name, call count and sums). */
#ifndef FERRY_IMATRIX_H
#define FERRY_IMATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ferry_imatrix_entry {
    char *name;    /* the weight's GGUF name, e.g. "blk.0.attn_q.weight" */
    float *values; /* n weights as llama-quantize feeds them: sums / count per column (1 where
                    * a GGUF count is 0; the legacy sums divided by their call count) */
    uint64_t n;    /* columns, times experts for a 3-D weight */
};

struct ferry_imatrix {
    struct ferry_imatrix_entry *entries; /* sorted by name */
    size_t n;
    char *dataset;       /* the first calibration text's name, NULL when none is recorded */
    int32_t chunk_count; /* chunks it was computed on, 0 when unknown */
    int legacy;          /* 1: read from the legacy .dat format */
};

/* Reads an importance matrix file (GGUF or legacy, told apart by the GGUF magic). Refuses,
 * with the file, offset and cause, any length that runs past the file, a GGUF file without
 * its three imatrix keys, sums without counts, non-F32 tensors and non-finite values.
 * *out is freed with ferry_imatrix_free. */
int ferry_imatrix_load(const char *path, struct ferry_imatrix **out, struct ferry_error *err);
void ferry_imatrix_free(struct ferry_imatrix *m);

/* llama-quantize's --exclude-weights then --include-weights: drops entries whose name
 * contains any of exclude, then (when ninclude > 0) keeps only those containing one of include. */
void ferry_imatrix_filter(struct ferry_imatrix *m, const char *const *include, size_t ninclude,
                          const char *const *exclude, size_t nexclude);

/* The entry for a weight, NULL when the matrix has none. */
const struct ferry_imatrix_entry *ferry_imatrix_find(const struct ferry_imatrix *m,
                                                     const char *name);

/* Computing one, as llama-imatrix does: per weight matrix whose name starts with "blk.", the
 * sum over tokens of each input column's square and the tokens counted. The sums are kept in
 * double (llama-imatrix adds floats: over long texts its rounding grows with the token count)
 * and written as float, as its file holds them. */
struct ferry_imatrix_sums {
    char *name;
    double *sums; /* n columns */
    uint64_t n;
    uint64_t count; /* tokens seen */
};

struct ferry_imatrix_acc {
    struct ferry_imatrix_sums *e; /* in the order first seen */
    size_t n, cap;
    int32_t chunks;      /* chunks evaluated */
    uint32_t chunk_size; /* tokens per chunk (the context) */
    int failed;          /* out of memory while collecting */
};

struct ferry_model;

/* Evaluates chunks of ctx tokens of tokens[0..ntokens) (tokenized with BOS first), each from
 * position 0 with its first token replaced by bos (when bos >= 0), at most max_chunks of them
 * (0: all whole chunks), collecting the sums of every matrix product's input with at least 16
 * tokens. Like llama-imatrix, at least two chunks of text are needed (FERRY_EUSAGE otherwise).
 * progress, when set, is called after each chunk. *out is freed with ferry_imatrix_acc_free. */
int ferry_imatrix_compute(struct ferry_model *m, const int32_t *tokens, size_t ntokens, int32_t bos,
                          uint32_t ctx, uint32_t max_chunks,
                          void (*progress)(void *pctx, uint32_t done, uint32_t chunks), void *pctx,
                          struct ferry_imatrix_acc **out, struct ferry_error *err);
void ferry_imatrix_acc_free(struct ferry_imatrix_acc *a);

/* Writes the GGUF imatrix llama-imatrix writes: general.type "imatrix", imatrix.datasets
 * [dataset], imatrix.chunk_count, imatrix.chunk_size, and per weight (sorted by name)
 * NAME.in_sum2 (F32, n) and NAME.counts (F32, 1). Temporary file and rename; an existing path
 * is refused without force. */
int ferry_imatrix_write(const char *path, const struct ferry_imatrix_acc *a, const char *dataset,
                        int force, struct ferry_error *err);

#ifdef __cplusplus
}
#endif

#endif
