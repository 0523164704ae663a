/* Bencoding (BitTorrent metainfo): a bounds-checked parser into a small tree, pointing into
 * the caller's buffer. Depth and counts are bounded; integers must fit int64. */
#ifndef FERRY_BENCODE_H
#define FERRY_BENCODE_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

enum ferry_bkind { FERRY_B_INT, FERRY_B_STR, FERRY_B_LIST, FERRY_B_DICT };

struct ferry_bnode {
    enum ferry_bkind kind;
    int64_t i;
    const uint8_t *s;          /* strings; also the node's raw bytes start */
    size_t len;                /* string length */
    size_t raw_len;            /* bytes of the whole encoded node (info-hash input) */
    struct ferry_bnode *items; /* lists; dicts alternate key, value */
    size_t n;
};

int ferry_bdecode(const uint8_t *p, size_t len, const char *what, struct ferry_bnode **root,
                  struct ferry_error *err);
void ferry_bnode_free(struct ferry_bnode *root);
/* Value for a key in a dict, or NULL. */
const struct ferry_bnode *ferry_bdict_get(const struct ferry_bnode *d, const char *key);

/* Writing: a growing buffer the encoders append to. Dict keys must be written in byte order
 * (the caller's duty: BitTorrent hashes the info dict as written). On allocation failure the
 * buffer is marked oom and later appends do nothing. */
struct ferry_bbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};
void ferry_benc_int(struct ferry_bbuf *b, int64_t v);
void ferry_benc_str(struct ferry_bbuf *b, const void *s, size_t n);
void ferry_benc_cstr(struct ferry_bbuf *b, const char *s);
void ferry_benc_open(struct ferry_bbuf *b, char kind); /* 'l' or 'd' */
void ferry_benc_close(struct ferry_bbuf *b);
void ferry_bbuf_free(struct ferry_bbuf *b);

#endif
