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

#ifdef __cplusplus
}
#endif

#endif
