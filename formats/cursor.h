/* Bounds-checked little-endian reads over a mapped buffer, shared by the binary readers.
 * Every read names the file and offset when it runs past the end. */
#ifndef FERRY_CURSOR_H
#define FERRY_CURSOR_H

#include <stdint.h>
#include <string.h>
#include "ferry/error.h"

struct cursor {
    const uint8_t *p;
    uint64_t size;
    uint64_t pos;
    const char *path;
    struct ferry_error *err;
};

static inline int cur_need(struct cursor *c, uint64_t n, const char *what)
{
    if (n > c->size - c->pos)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, c->pos, NULL,
                               "truncated: %s needs %llu bytes, %llu left", what,
                               (unsigned long long)n, (unsigned long long)(c->size - c->pos));
    return 0;
}

static inline int cur_bytes(struct cursor *c, void *dst, uint64_t n, const char *what)
{
    int rc = cur_need(c, n, what);
    if (rc) return rc;
    if (n) memcpy(dst, c->p + c->pos, (size_t)n);
    c->pos += n;
    return 0;
}

static inline int cur_u8(struct cursor *c, uint8_t *v, const char *what)
{
    return cur_bytes(c, v, 1, what);
}

static inline int cur_u16(struct cursor *c, uint16_t *v, const char *what)
{
    uint8_t b[2];
    int rc = cur_bytes(c, b, 2, what);
    if (!rc) *v = (uint16_t)(b[0] | b[1] << 8);
    return rc;
}

static inline int cur_u32(struct cursor *c, uint32_t *v, const char *what)
{
    uint8_t b[4];
    int rc = cur_bytes(c, b, 4, what);
    if (!rc)
        *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return rc;
}

static inline int cur_u64(struct cursor *c, uint64_t *v, const char *what)
{
    uint32_t lo, hi;
    int rc = cur_u32(c, &lo, what);
    if (!rc) rc = cur_u32(c, &hi, what);
    if (!rc) *v = (uint64_t)hi << 32 | lo;
    return rc;
}

static inline uint32_t rd_u32le(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint16_t rd_u16le(const uint8_t *b)
{
    return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint64_t rd_u64le(const uint8_t *b)
{
    return (uint64_t)rd_u32le(b + 4) << 32 | rd_u32le(b);
}

static inline void wr_u16le(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static inline void wr_u32le(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static inline void wr_u64le(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

#endif
