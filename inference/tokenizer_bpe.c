/* Byte-level BPE as Llama 3 uses it. The text is split by the Llama 3 pre-tokenizer pattern
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *   \s*[\r\n]+|\s+(?!\S)|\s+
 * matched by hand, alternative by alternative, with the backtracking the regex engine would do;
 * each piece is mapped to GPT-2's byte alphabet, emitted whole when it is a token (llama.cpp's
 * ignore_merges), else merged pair by pair, lowest merge rank first. */
#include "tokenizer_impl.h"
#include "unicode_tables.h"

#include <stdlib.h>
#include <string.h>

static int is_l(uint32_t c)
{
    return uni_in(ferry_uni_letter, ferry_uni_letter_n, c);
}

static int is_n(uint32_t c)
{
    return uni_in(ferry_uni_number, ferry_uni_number_n, c);
}

static int is_s(uint32_t c)
{
    return uni_in(ferry_uni_space, ferry_uni_space_n, c);
}

static int is_nl(uint32_t c)
{
    return c == '\r' || c == '\n';
}

static uint32_t lower(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Decodes UTF-8 into code points with their byte offsets (offs has n+1 entries). Invalid
 * bytes become U+FFFD of one byte, as in lossy decoding. */
static size_t decode(const char *s, size_t len, uint32_t *cp, size_t *offs)
{
    size_t n = 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        uint32_t v = l == 1 ? c : l == 2 ? c & 0x1fu : l == 3 ? c & 0x0fu : c & 0x07u;
        int ok = l > 0 && i + l <= len;
        for (size_t k = 1; ok && k < l; k++) {
            ok = ((unsigned char)s[i + k] >> 6) == 2;
            v = v << 6 | ((unsigned char)s[i + k] & 0x3fu);
        }
        offs[n] = i;
        cp[n++] = ok ? v : 0xfffd;
        i += ok ? l : 1;
    }
    offs[n] = len;
    return n;
}

/* Length in code points of the pre-token starting at i. */
static size_t match(const uint32_t *c, size_t n, size_t i)
{
    size_t j;
    if (c[i] == '\'' && i + 1 < n) { /* contractions, case-insensitive */
        uint32_t a = lower(c[i + 1]), b = i + 2 < n ? lower(c[i + 2]) : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    if (!is_nl(c[i]) && !is_l(c[i]) && !is_n(c[i]) && i + 1 < n && is_l(c[i + 1])) {
        for (j = i + 1; j < n && is_l(c[j]); j++) {
        }
        return j - i;
    }
    if (is_l(c[i])) {
        for (j = i; j < n && is_l(c[j]); j++) {
        }
        return j - i;
    }
    if (is_n(c[i])) {
        for (j = i; j < n && j < i + 3 && is_n(c[j]); j++) {
        }
        return j - i;
    }
    j = i + (c[i] == ' ' ? 1 : 0);
    if (j < n && !is_s(c[j]) && !is_l(c[j]) && !is_n(c[j])) {
        while (j < n && !is_s(c[j]) && !is_l(c[j]) && !is_n(c[j])) j++;
        while (j < n && is_nl(c[j])) j++;
        return j - i;
    }
    size_t r = i;
    while (r < n && is_s(c[r])) r++;
    if (r > i) {
        for (size_t q = r; q-- > i;)
            if (is_nl(c[q])) return q + 1 - i; /* \s*[\r\n]+ */
        if (r == n) return r - i;              /* \s+(?!\S) at the end */
        if (r - 1 > i) return r - 1 - i;       /* leave one space to the next piece */
        return r - i;                          /* \s+ */
    }
    return 1;
}

struct piece {
    size_t off, len; /* in the mapped string */
};

static int encode_piece(const struct ferry_tokenizer *t, const char *m, size_t mlen,
                        struct ids *out)
{
    int32_t whole = tok_lookup(t, m, mlen);
    if (whole >= 0) return ids_push(out, whole);
    struct piece *p = malloc((mlen + 1) * sizeof(*p));
    if (!p) return -1;
    size_t np = 0;
    for (size_t i = 0; i < mlen;) { /* one symbol per character of the byte alphabet */
        size_t l = ((unsigned char)m[i] >> 5) == 6 ? 2 : 1;
        p[np].off = i, p[np].len = l;
        np++;
        i += l;
    }
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < np; i++) {
            int32_t r = t->mslots
                            ? merge_rank(t, m + p[i].off, p[i].len, m + p[i + 1].off, p[i + 1].len)
                            : tok_lookup(t, m + p[i].off, p[i].len + p[i + 1].len);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) break;
        p[at].len += p[at + 1].len;
        memmove(p + at + 1, p + at + 2, (np - at - 2) * sizeof(*p));
        np--;
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < np; i++) {
        int32_t id = tok_lookup(t, m + p[i].off, p[i].len);
        if (id < 0) { /* not a token: its characters one by one (each byte is one) */
            for (size_t k = 0; !rc && k < p[i].len;) {
                size_t l = ((unsigned char)m[p[i].off + k] >> 5) == 6 ? 2 : 1;
                int32_t b = tok_lookup(t, m + p[i].off + k, l);
                rc = ids_push(out, b >= 0 ? b : t->unk);
                k += l;
            }
        } else
            rc = ids_push(out, id);
    }
    free(p);
    return rc;
}

int bpe_encode(const struct ferry_tokenizer *t, const char *text, size_t len, struct ids *out)
{
    uint32_t *cp = malloc((len + 1) * sizeof(uint32_t));
    size_t *offs = malloc((len + 1) * sizeof(size_t));
    char *m = malloc(2 * len + 1);
    int rc = cp && offs && m ? 0 : -1;
    size_t n = rc ? 0 : decode(text, len, cp, offs);
    for (size_t i = 0; !rc && i < n;) {
        size_t k = match(cp, n, i);
        size_t a = offs[i], b = offs[i + k];
        int ml = ferry_bytes_to_bpe_text((const uint8_t *)text + a, b - a, m);
        rc = encode_piece(t, m, (size_t)ml, out);
        i += k;
    }
    free(cp);
    free(offs);
    free(m);
    return rc;
}
