/* Bencode parser (see ferry/bencode.h). */
#include "ferry/bencode.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct bp {
    const uint8_t *p;
    size_t len, pos;
    const char *what;
    struct ferry_error *err;
};

static int bad(struct bp *b, const char *why)
{
    return ferry_error_set(b->err, FERRY_EMALFORMED, b->what, b->pos, NULL, "bencode: %s", why);
}

static void free_node(struct ferry_bnode *n)
{
    for (size_t i = 0; i < n->n; i++) free_node(&n->items[i]);
    free(n->items);
}

void ferry_bnode_free(struct ferry_bnode *root)
{
    if (!root) return;
    free_node(root);
    free(root);
}

static int parse_int(struct bp *b, char end, int64_t *out)
{
    int neg = 0, digits = 0;
    uint64_t v = 0;
    if (b->pos < b->len && b->p[b->pos] == '-') neg = 1, b->pos++;
    while (b->pos < b->len && b->p[b->pos] >= '0' && b->p[b->pos] <= '9') {
        if (digits && v == 0) return bad(b, "leading zero");
        v = v * 10 + (uint64_t)(b->p[b->pos] - '0');
        if (v > (uint64_t)INT64_MAX) return bad(b, "integer too large");
        b->pos++, digits++;
    }
    if (!digits || b->pos >= b->len || b->p[b->pos] != end || (neg && v == 0))
        return bad(b, "malformed integer");
    b->pos++;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse(struct bp *b, struct ferry_bnode *n, int depth)
{
    memset(n, 0, sizeof(*n));
    if (depth > MAX_DEPTH) return bad(b, "nested too deeply");
    if (b->pos >= b->len) return bad(b, "truncated");
    size_t start = b->pos;
    n->s = b->p + start;
    uint8_t c = b->p[b->pos];
    int rc = 0;
    if (c == 'i') {
        b->pos++;
        n->kind = FERRY_B_INT;
        rc = parse_int(b, 'e', &n->i);
    } else if (c >= '0' && c <= '9') {
        int64_t l;
        n->kind = FERRY_B_STR;
        if ((rc = parse_int(b, ':', &l))) return rc;
        if ((uint64_t)l > b->len - b->pos) return bad(b, "string runs past the end");
        n->s = b->p + b->pos;
        n->len = (size_t)l;
        b->pos += (size_t)l;
    } else if (c == 'l' || c == 'd') {
        n->kind = c == 'l' ? FERRY_B_LIST : FERRY_B_DICT;
        b->pos++;
        size_t cap = 0;
        while (!rc) {
            if (b->pos >= b->len) return bad(b, "unterminated list or dict");
            if (b->p[b->pos] == 'e') {
                b->pos++;
                break;
            }
            if (n->n == cap) {
                cap = cap ? cap * 2 : 8;
                struct ferry_bnode *p = realloc(n->items, cap * sizeof(*p));
                if (!p)
                    return ferry_error_set(b->err, FERRY_EINTERNAL, b->what, b->pos, NULL, "oom");
                n->items = p;
            }
            rc = parse(b, &n->items[n->n], depth + 1);
            n->n++;
            if (!rc && n->kind == FERRY_B_DICT && n->n % 2 == 1 &&
                n->items[n->n - 1].kind != FERRY_B_STR)
                rc = bad(b, "dict key is not a string");
        }
        if (!rc && n->kind == FERRY_B_DICT && n->n % 2) rc = bad(b, "dict key without a value");
    } else
        rc = bad(b, "unexpected byte");
    n->raw_len = b->pos - start;
    return rc;
}

int ferry_bdecode(const uint8_t *p, size_t len, const char *what, struct ferry_bnode **root,
                  struct ferry_error *err)
{
    struct bp b = {p, len, 0, what, err};
    struct ferry_bnode *n = calloc(1, sizeof(*n));
    if (!n) return ferry_error_set(err, FERRY_EINTERNAL, what, 0, NULL, "oom");
    int rc = parse(&b, n, 0);
    if (!rc && b.pos != len) rc = bad(&b, "trailing bytes");
    if (rc) {
        ferry_bnode_free(n);
        return rc;
    }
    *root = n;
    return 0;
}

const struct ferry_bnode *ferry_bdict_get(const struct ferry_bnode *d, const char *key)
{
    if (!d || d->kind != FERRY_B_DICT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i].len == kl && memcmp(d->items[i].s, key, kl) == 0) return &d->items[i + 1];
    return NULL;
}

static void put(struct ferry_bbuf *b, const void *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void ferry_benc_int(struct ferry_bbuf *b, int64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "i%" PRId64 "e", v);
    put(b, t, (size_t)n);
}

void ferry_benc_str(struct ferry_bbuf *b, const void *s, size_t n)
{
    char t[32];
    int k = snprintf(t, sizeof(t), "%zu:", n);
    put(b, t, (size_t)k);
    put(b, s, n);
}

void ferry_benc_cstr(struct ferry_bbuf *b, const char *s)
{
    ferry_benc_str(b, s, strlen(s));
}

void ferry_benc_open(struct ferry_bbuf *b, char kind)
{
    put(b, &kind, 1);
}

void ferry_benc_close(struct ferry_bbuf *b)
{
    put(b, "e", 1);
}

void ferry_bbuf_free(struct ferry_bbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
