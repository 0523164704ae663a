/* Sentencepiece BPE encoding as llama.cpp and sentencepiece do it: the text (with a dummy
 * leading space) has spaces escaped to "▁" and is split into UTF-8 characters; the adjacent pair
 * whose concatenation is the best-scoring vocabulary token is merged first (leftmost on ties)
 * until no pair merges; characters left that are no token become <0xXX> byte tokens. */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

struct sym {
    int prev, next;
    const char *text;
    size_t len;
};

struct bigram {
    int left, right;
    float score;
    size_t len;
};

/* max-heap on (score, then smaller left) */
static int better(const struct bigram *a, const struct bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

struct heap {
    struct bigram *b;
    size_t n, cap;
};

static int heap_push(struct heap *h, struct bigram x)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct bigram *p = realloc(h->b, cap * sizeof(*p));
        if (!p) return -1;
        h->b = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    h->b[i] = x;
    while (i && better(&h->b[i], &h->b[(i - 1) / 2])) {
        struct bigram t = h->b[i];
        h->b[i] = h->b[(i - 1) / 2];
        h->b[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static struct bigram heap_pop(struct heap *h)
{
    struct bigram top = h->b[0];
    h->b[0] = h->b[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && better(&h->b[l], &h->b[m])) m = l;
        if (r < h->n && better(&h->b[r], &h->b[m])) m = r;
        if (m == i) break;
        struct bigram t = h->b[i];
        h->b[i] = h->b[m];
        h->b[m] = t;
        i = m;
    }
    return top;
}

static int try_pair(const struct ferry_tokenizer *t, struct sym *s, int l, int r, struct heap *h)
{
    if (l < 0 || r < 0) return 0;
    size_t len = s[l].len + s[r].len;
    int32_t id = tok_lookup(t, s[l].text, len);
    if (id < 0) return 0;
    struct bigram b = {l, r, t->v->scores ? t->v->scores[id] : 0.0f, len};
    return heap_push(h, b);
}

static size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
}

int spm_encode(const struct ferry_tokenizer *t, const char *text, size_t len, struct ids *out)
{
    /* escaped copy: dummy prefix, ' ' -> U+2581 (3 bytes) */
    size_t cap = 3 * (len + 1) + 1, n = 0;
    char *esc = malloc(cap);
    if (!esc) return -1;
    if (len && t->add_space_prefix) memcpy(esc, "\xe2\x96\x81", 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ')
            memcpy(esc + n, "\xe2\x96\x81", 3), n += 3;
        else
            esc[n++] = text[i];
    }
    struct sym *s = malloc((n + 1) * sizeof(*s));
    struct heap h = {0};
    int rc = s ? 0 : -1, ns = 0;
    for (size_t i = 0; !rc && i < n; ns++) {
        size_t l = utf8_len((unsigned char)esc[i]);
        if (i + l > n) l = n - i;
        s[ns] = (struct sym){ns - 1, -1, esc + i, l};
        if (ns) s[ns - 1].next = ns;
        i += l;
    }
    for (int i = 0; !rc && i + 1 < ns; i++) rc = try_pair(t, s, i, i + 1, &h);
    while (!rc && h.n) {
        struct bigram b = heap_pop(&h);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (!l->len || !r->len || l->len + r->len != b.len) continue; /* stale pair */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        rc = try_pair(t, s, l->prev, b.left, &h) || try_pair(t, s, b.left, l->next, &h);
    }
    for (int i = 0; !rc && ns && i >= 0; i = s[i].next) {
        int32_t id = tok_lookup(t, s[i].text, s[i].len);
        if (id >= 0) {
            rc = ids_push(out, id);
            continue;
        }
        for (size_t k = 0; !rc && k < s[i].len; k++) { /* byte fallback */
            int32_t b = t->byte_id[(unsigned char)s[i].text[k]];
            rc = ids_push(out, b >= 0 ? b : t->unk);
        }
    }
    free(h.b);
    free(s);
    free(esc);
    return rc;
}
