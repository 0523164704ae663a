/* A set of byte strings for duplicate detection (keys, tensor names) in linear time. */
#ifndef FERRY_STRSET_H
#define FERRY_STRSET_H

#include <stddef.h>
#include <stdint.h>

struct strset {
    const char **keys; /* borrowed pointers */
    size_t *lens;
    uint64_t cap, n;
};

void strset_init(struct strset *s);
void strset_free(struct strset *s);
/* Returns 1 if added, 0 if already present, -1 when out of memory. */
int strset_add(struct strset *s, const char *key, size_t len);

#endif
