/* Code point range tables (unicode_tables.c, generated) and their lookup. */
#ifndef FERRY_INFERENCE_UNICODE_TABLES_H
#define FERRY_INFERENCE_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

struct urange {
    uint32_t lo, hi;
};

extern const struct urange ferry_uni_letter[], ferry_uni_number[], ferry_uni_space[];
extern const size_t ferry_uni_letter_n, ferry_uni_number_n, ferry_uni_space_n;

/* Binary search: 1 when cp lies in one of the n sorted ranges. */
static inline int uni_in(const struct urange *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

#endif
