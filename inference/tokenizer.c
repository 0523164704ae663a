/* Tokenizer front end: vocabulary loading from any source, the token lookup table, BOS
 * handling, special tokens named in text, and decoding of ids to text. */
#define _GNU_SOURCE
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

int ids_push(struct ids *a, int32_t id)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *p = realloc(a->v, cap * sizeof(*p));
        if (!p) return -1;
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

int32_t tok_lookup(const struct ferry_tokenizer *t, const char *s, size_t len)
{
    for (uint64_t i = hash(s, len) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        int32_t id = t->slots[i];
        if (id < 0) return -1;
        const struct ferry_str *x = &t->v->tokens[id];
        if (x->len == len && !memcmp(x->s, s, len)) return id;
    }
}

int32_t merge_rank(const struct ferry_tokenizer *t, const char *a, size_t al, const char *b,
                   size_t bl)
{
    if (!t->mslots) return -1;
    char buf[512];
    if (al + bl + 1 > sizeof(buf)) return -1;
    memcpy(buf, a, al);
    buf[al] = ' ';
    memcpy(buf + al + 1, b, bl);
    size_t len = al + bl + 1;
    for (uint64_t i = hash(buf, len) & (t->mcap - 1);; i = (i + 1) & (t->mcap - 1)) {
        int32_t r = t->mslots[i];
        if (r < 0) return -1;
        const struct ferry_str *x = &t->v->merges[r];
        if (x->len == len && !memcmp(x->s, buf, len)) return r;
    }
}

static int32_t *table(const struct ferry_str *items, uint64_t n, uint64_t *cap_out)
{
    uint64_t cap = 64;
    while (cap < 2 * n) cap *= 2;
    int32_t *slots = malloc(cap * sizeof(int32_t));
    if (!slots) return NULL;
    memset(slots, 0xff, cap * sizeof(int32_t));
    for (uint64_t id = 0; id < n; id++) {
        uint64_t i = hash(items[id].s, (size_t)items[id].len) & (cap - 1);
        while (slots[i] >= 0) {
            const struct ferry_str *x = &items[slots[i]];
            if (x->len == items[id].len && !memcmp(x->s, items[id].s, (size_t)x->len))
                break; /* first id wins */
            i = (i + 1) & (cap - 1);
        }
        if (slots[i] < 0) slots[i] = (int32_t)id;
    }
    *cap_out = cap;
    return slots;
}

static int longer_first(const void *a, const void *b, void *ctx)
{
    const struct ferry_vocab *v = ctx;
    size_t la = v->tokens[*(const int32_t *)a].len, lb = v->tokens[*(const int32_t *)b].len;
    if (la != lb) return la > lb ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

/* Tokens that text may name literally (GGUF token types 2 unknown, 3 control, 4 user-defined,
 * as llama.cpp matches them when it parses special tokens), longest first. */
static int collect_specials(struct ferry_tokenizer *t)
{
    const struct ferry_vocab *v = t->v;
    if (!v->types) return 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0;
        for (uint64_t i = 0; i < v->n; i++)
            if ((v->types[i] == 2 || v->types[i] == 3 || v->types[i] == 4) &&
                v->tokens[i].len > 0) {
                if (pass) t->specials[n] = (int32_t)i;
                n++;
            }
        if (!pass && !(t->specials = malloc((n ? n : 1) * sizeof(int32_t)))) return -1;
        t->nspecials = n;
    }
    qsort_r(t->specials, t->nspecials, sizeof(int32_t), longer_first, (void *)v);
    return 0;
}

/* The byte a sentencepiece byte token stands for: exactly "<0xHH>" with two hex digits, else -1
 * (sscanf's %X would also take a sign or a single digit). */
static int byte_token(const struct ferry_str *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    if (s->len != 6 || memcmp(s->s, "<0x", 3) || s->s[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = s->s[k];
        if (c >= 'a' && c <= 'f') c = (char)(c - 'a' + 'A');
        const char *d = c ? strchr(hexd, c) : NULL;
        if (!d) return -1;
        v = v * 16 + (int)(d - hexd);
    }
    return v;
}

int ferry_tokenizer_new(const struct ferry_vocab *v, struct ferry_tokenizer **out,
                        struct ferry_error *err)
{
    int vrc = ferry_vocab_check(v, NULL, err);
    if (vrc) return vrc;
    struct ferry_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    t->v = v;
    t->bpe = !strcmp(v->model, "gpt2");
    t->add_space_prefix = !t->bpe;
    t->bos = (int32_t)v->bos, t->eos = (int32_t)v->eos,
    t->unk = (int32_t)(v->unk >= 0 ? v->unk : 0);
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    t->slots = table(v->tokens, v->n, &t->cap);
    if (t->bpe && v->merges) t->mslots = table(v->merges, v->nmerges, &t->mcap);
    if (!t->slots || (t->bpe && v->merges && !t->mslots)) {
        ferry_tokenizer_free(t);
        return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    }
    if (collect_specials(t)) {
        ferry_tokenizer_free(t);
        return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    }
    for (uint64_t i = 0; i < v->n; i++) {
        int b = byte_token(&v->tokens[i]);
        if (b >= 0 && t->byte_id[b] < 0) t->byte_id[b] = (int32_t)i;
    }
    *out = t;
    return 0;
}

void ferry_tokenizer_free(struct ferry_tokenizer *t)
{
    if (!t) return;
    free(t->slots);
    free(t->mslots);
    free(t->specials);
    if (t->owns) ferry_vocab_free(&t->owned);
    free(t);
}

int ferry_tokenizer_load(const char *path, struct ferry_tokenizer **out, struct ferry_error *err)
{
    struct ferry_vocab v;
    int rc = ferry_vocab_load(path, 0, &v, err);
    if (rc) return rc;
    struct ferry_tokenizer *t;
    /* the vocabulary moves into the tokenizer, which owns it from here */
    rc = ferry_tokenizer_new(&v, &t, err);
    if (rc) {
        ferry_vocab_free(&v);
        return rc;
    }
    t->owned = v;
    t->owns = 1;
    t->v = &t->owned;
    *out = t;
    return 0;
}

/* The special token whose text starts text[0..len), longest match, or -1. */
static int32_t special_at(const struct ferry_tokenizer *t, const char *text, size_t len)
{
    for (size_t k = 0; k < t->nspecials; k++) {
        const struct ferry_str *s = &t->v->tokens[t->specials[k]];
        if (s->len <= len && !memcmp(text, s->s, s->len)) return t->specials[k];
    }
    return -1;
}

/* Plain text runs go through the model's algorithm (each with the dummy prefix, as after a
 * special token in llama.cpp); special token texts become their ids. */
static int encode_parts(const struct ferry_tokenizer *t, const char *text, size_t len,
                        int parse_special, struct ids *a)
{
    size_t start = 0;
    int rc = 0;
    for (size_t i = 0; parse_special && i < len && !rc; i++) {
        int32_t id = t->nspecials ? special_at(t, text + i, len - i) : -1;
        if (id < 0) continue;
        if (i > start)
            rc = t->bpe ? bpe_encode(t, text + start, i - start, a)
                        : spm_encode(t, text + start, i - start, a);
        if (!rc) rc = ids_push(a, id);
        i += t->v->tokens[id].len - 1;
        start = i + 1;
    }
    if (!rc && len > start)
        rc = t->bpe ? bpe_encode(t, text + start, len - start, a)
                    : spm_encode(t, text + start, len - start, a);
    return rc;
}

int ferry_tokenize(const struct ferry_tokenizer *t, const char *text, size_t len, int add_bos,
                   int32_t **ids, size_t *n, struct ferry_error *err)
{
    return ferry_tokenize_ex(t, text, len, add_bos, 0, ids, n, err);
}

int ferry_tokenize_ex(const struct ferry_tokenizer *t, const char *text, size_t len, int add_bos,
                      int parse_special, int32_t **ids, size_t *n, struct ferry_error *err)
{
    struct ids a = {0};
    int rc = 0;
    if (add_bos && t->bos >= 0) rc = ids_push(&a, t->bos);
    if (!rc && len) rc = encode_parts(t, text, len, parse_special, &a);
    if (rc) {
        free(a.v);
        return rc > 0
                   ? rc
                   : ferry_error_set(err, rc == -2 ? FERRY_EUSAGE : FERRY_EINTERNAL, NULL,
                                     FERRY_NO_OFFSET, NULL,
                                     rc == -2
                                         ? "byte-level BPE (Llama 3) tokenization is not built yet"
                                         : "out of memory");
    }
    *ids = a.v ? a.v : malloc(sizeof(int32_t));
    *n = a.n;
    return 0;
}

int32_t ferry_tokenizer_bos(const struct ferry_tokenizer *t)
{
    return t->bos;
}

int32_t ferry_tokenizer_eos(const struct ferry_tokenizer *t)
{
    return t->eos;
}

size_t ferry_token_text(const struct ferry_tokenizer *t, int32_t prev, int32_t id, char *buf,
                        size_t n)
{
    if (id < 0 || (uint64_t)id >= t->v->n || n == 0) return 0;
    const struct ferry_str *s = &t->v->tokens[id];
    int32_t type = t->v->types ? t->v->types[id] : FERRY_TOK_NORMAL;
    if (type == FERRY_TOK_CONTROL || type == FERRY_TOK_UNKNOWN) return 0;
    size_t o = 0;
    if (!t->bpe) {
        int b = byte_token(s);
        if (b >= 0) {
            buf[0] = (char)b;
            return 1;
        }
        for (size_t i = 0; i < s->len && o < n; i++) {
            if (i + 2 < s->len && !memcmp(s->s + i, "\xe2\x96\x81", 3)) {
                if (!(o == 0 && i == 0 && prev == t->bos)) buf[o++] = ' ';
                i += 2;
            } else
                buf[o++] = s->s[i];
        }
        return o;
    }
    /* byte-level alphabet back to bytes: U+0100.. stand for the 68 unprintable bytes */
    for (size_t i = 0; i < s->len && o < n;) {
        unsigned char c = (unsigned char)s->s[i];
        unsigned cp;
        size_t l;
        if (c < 0x80)
            cp = c, l = 1;
        else if ((c >> 5) == 6 && i + 1 < s->len)
            cp = (c & 0x1fu) << 6 | ((unsigned char)s->s[i + 1] & 0x3fu), l = 2;
        else {
            buf[o++] = (char)c;
            i++;
            continue;
        }
        i += l;
        if (cp >= 0x100) {
            /* the n-th unprintable byte in order */
            unsigned k = cp - 0x100, seen = 0;
            for (unsigned b = 0; b < 256; b++) {
                int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
                if (!printable && seen++ == k) {
                    buf[o++] = (char)b;
                    break;
                }
            }
        } else
            buf[o++] = (char)cp;
    }
    return o;
}

int32_t ferry_token_id(const struct ferry_tokenizer *t, const char *text)
{
    return tok_lookup(t, text, strlen(text));
}
