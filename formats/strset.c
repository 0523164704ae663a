/* Open-addressing hash set over borrowed strings (FNV-1a). */
#include "strset.h"

#include <stdlib.h>
#include <string.h>

void strset_init(struct strset *s)
{
    memset(s, 0, sizeof(*s));
}

void strset_free(struct strset *s)
{
    free(s->keys);
    free(s->lens);
    memset(s, 0, sizeof(*s));
}

static uint64_t hash(const char *k, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
    return h;
}

static int insert(struct strset *s, const char *key, size_t len)
{
    uint64_t m = s->cap - 1;
    for (uint64_t i = hash(key, len) & m;; i = (i + 1) & m) {
        if (!s->keys[i]) {
            s->keys[i] = key;
            s->lens[i] = len;
            s->n++;
            return 1;
        }
        if (s->lens[i] == len && memcmp(s->keys[i], key, len) == 0) return 0;
    }
}

int strset_add(struct strset *s, const char *key, size_t len)
{
    if ((s->n + 1) * 2 > s->cap) {
        struct strset bigger = {0};
        bigger.cap = s->cap ? s->cap * 2 : 64;
        bigger.keys = calloc((size_t)bigger.cap, sizeof(*bigger.keys));
        bigger.lens = calloc((size_t)bigger.cap, sizeof(*bigger.lens));
        if (!bigger.keys || !bigger.lens) {
            strset_free(&bigger);
            return -1;
        }
        for (uint64_t i = 0; i < s->cap; i++)
            if (s->keys[i]) insert(&bigger, s->keys[i], s->lens[i]);
        strset_free(s);
        *s = bigger;
    }
    return insert(s, key, len);
}
