/* Tensor-by-tensor comparison of two checkpoints of one model in any formats: names mapped to
 * GGUF's, Q/K rows in one layout, block types dequantized. */
#ifndef FERRY_DIFF_H
#define FERRY_DIFF_H

#include <stdint.h>
#include "ferry/dtype.h"
#include "ferry/error.h"

enum ferry_diff_status {
    FERRY_DIFF_IDENTICAL,
    FERRY_DIFF_DIFFERENT,
    FERRY_DIFF_SHAPE,
    FERRY_DIFF_ONLY_A,
    FERRY_DIFF_ONLY_B
};

struct ferry_diff_entry {
    char name[96];
    enum ferry_diff_status status;
    enum ferry_dtype a, b;
    double max_abs, max_rel;
    uint64_t ndiff, nelem;
};

struct ferry_diff_report {
    struct ferry_diff_entry *e;
    uint64_t n;
    int model; /* 1: compared as Llama models (names mapped); 0: as raw tensor dictionaries */
};

/* Compares the checkpoints a and b (files or model folders, any formats) on threads threads
 * (0: all cores). 0 with r filled (free it with ferry_diff_report_free), whatever the
 * differences; a FERRY_E* code when either side cannot be opened or read (nothing to free). */
int ferry_diff(const char *a, const char *b, unsigned threads, struct ferry_diff_report *r,
               struct ferry_error *err);
void ferry_diff_report_free(struct ferry_diff_report *r);

#endif
