/* Meta's Llama 3 tokenizer.model: tiktoken text, one "<base64 bytes> <rank>" line per token;
 * the 256 special tokens follow the ranks (<|begin_of_text|> = 128000 ...). Tokens are stored
 * in the GPT-2 byte-level alphabet as tokenizer.json and GGUF hold them, and the merges GGUF
 * needs are derived from the ranks: a token of rank r is the merge of the two pieces that byte
 * pair encoding with the ranks below r leaves of it. */
#include "ferry/vocab.h"
#include "ferry/file.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SPECIAL 256

/* GPT-2 bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100.. */
static unsigned byte_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae) return b;
    unsigned n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || x >= 0xae)) n++;
    return 0x100 + n;
}

static size_t put_cp(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

int ferry_bytes_to_bpe_text(const uint8_t *b, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += put_cp(out + o, byte_cp(b[i]));
    out[o] = 0;
    return (int)o;
}

static const char *special_name(unsigned i, char *buf, size_t n)
{
    static const char *first[] = {"<|begin_of_text|>",
                                  "<|end_of_text|>",
                                  "<|reserved_special_token_0|>",
                                  "<|reserved_special_token_1|>",
                                  "<|reserved_special_token_2|>",
                                  "<|reserved_special_token_3|>",
                                  "<|start_header_id|>",
                                  "<|end_header_id|>",
                                  "<|reserved_special_token_4|>",
                                  "<|eot_id|>"};
    if (i < 10) return first[i];
    snprintf(buf, n, "<|reserved_special_token_%u|>", i - 5);
    return buf;
}

/* rank lookup over raw token bytes */
struct rank_map {
    uint64_t cap;
    int32_t *slot;
    const uint8_t **bytes;
    const size_t *len;
};

static uint64_t fnv(const uint8_t *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static int32_t rank_of(const struct rank_map *m, const uint8_t *s, size_t n)
{
    for (uint64_t i = fnv(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int32_t r = m->slot[i];
        if (r < 0) return -1;
        if (m->len[r] == n && !memcmp(m->bytes[r], s, n)) return r;
    }
}

/* The two pieces byte pair encoding with ranks below `limit` leaves of bytes[0..n). */
static int split_of(const struct rank_map *m, const uint8_t *s, size_t n, int32_t limit,
                    size_t *cut)
{
    size_t bound[260], k = n; /* piece i = [bound[i], bound[i+1]) */
    if (n > 256) return -1;
    for (size_t i = 0; i <= n; i++) bound[i] = i;
    while (k > 2) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 2 <= k; i++) {
            int32_t r = rank_of(m, s + bound[i], bound[i + 2] - bound[i]);
            if (r >= 0 && r < limit && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) return -1;
        memmove(bound + at + 1, bound + at + 2, (k - at - 1) * sizeof(size_t));
        k--;
    }
    *cut = bound[1];
    return k == 2 ? 0 : -1;
}

/* The rank after the space: decimal digits up to the end of the line (a '\r' before the '\n'
 * allowed), read within [p, end) only -- the mapping is not a C string. -1 when it is not. */
static int64_t parse_rank(const char *p, const char *end)
{
    if (end > p && end[-1] == '\r') end--;
    if (p == end || end - p > 10) return -1;
    int64_t r = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return -1;
        r = r * 10 + (*p - '0');
    }
    return r;
}

int ferry_vocab_from_tiktoken(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                              struct ferry_error *err)
{
    memset(v, 0, sizeof(*v));
    struct ferry_map map;
    int rc = ferry_map_open(&map, path, err);
    if (rc) return rc;
    uint64_t lines = 0;
    for (uint64_t i = 0; i < map.size; i++) lines += map.data[i] == '\n';
    uint64_t base = lines + 1, n = base + N_SPECIAL; /* an upper bound until the lines are read */
    if (vocab_size > n) n = vocab_size;
    uint8_t **bytes = calloc(base, sizeof(*bytes));
    size_t *blen = calloc(base, sizeof(*blen));
    v->tokens = calloc(n, sizeof(*v->tokens));
    v->types = calloc(n, sizeof(int32_t));
    struct rank_map rm = {0};
    uint64_t count = 0;
    if (!bytes || !blen || !v->tokens || !v->types) goto oom;
    /* an empty file maps to no memory at all: no pointer arithmetic on it (count stays 0) */
    const char *p = map.size ? (const char *)map.data : "", *end = p + map.size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        const char *sp = memchr(p, ' ', (size_t)(le - p));
        if (le == p) {
            p = le + 1;
            continue;
        }
        int64_t r = sp ? parse_rank(sp + 1, le) : -1;
        uint8_t buf[512];
        size_t bl;
        if (!sp || r < 0 || (uint64_t)r >= base || bytes[r] ||
            sodium_base642bin(buf, sizeof(buf), p, (size_t)(sp - p), NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
            rc = ferry_error_set(
                err, FERRY_EMALFORMED, path, (uint64_t)(p - (const char *)map.data), NULL,
                "not a tiktoken line \"<base64> <rank>\" (or a rank repeated or out of range)");
            goto out;
        }
        if (!(bytes[r] = malloc(bl ? bl : 1))) goto oom;
        memcpy(bytes[r], buf, bl);
        blen[r] = bl;
        count++;
        p = le + 1;
    }
    if (count == 0) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL, "no tokens");
        goto out;
    }
    rm.cap = 64;
    while (rm.cap < 2 * count) rm.cap *= 2;
    rm.slot = malloc(rm.cap * sizeof(int32_t));
    if (!rm.slot) goto oom;
    memset(rm.slot, 0xff, rm.cap * sizeof(int32_t));
    rm.bytes = (const uint8_t **)bytes;
    rm.len = blen;
    for (uint64_t r = 0; r < count; r++) {
        if (!bytes[r]) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                 "rank %llu missing", (unsigned long long)r);
            goto out;
        }
        uint64_t i = fnv(bytes[r], blen[r]) & (rm.cap - 1);
        for (; rm.slot[i] >= 0; i = (i + 1) & (rm.cap - 1)) {
            int32_t q = rm.slot[i];
            if (blen[q] == blen[r] && !memcmp(bytes[q], bytes[r], blen[r])) {
                /* tiktoken's encoder and decoder would disagree: the token has two ranks */
                rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                     "ranks %d and %llu hold the same token bytes", q,
                                     (unsigned long long)r);
                goto out;
            }
        }
        rm.slot[i] = (int32_t)r;
    }
    n = count + N_SPECIAL > vocab_size ? count + N_SPECIAL : vocab_size;
    v->n = n;
    v->model = "gpt2";
    v->pre = "llama-bpe";
    v->bos = (int64_t)count, v->eos = (int64_t)count + 1, v->unk = v->pad = -1;
    v->add_bos = 1;
    v->merges = calloc(count, sizeof(*v->merges));
    if (!v->merges) goto oom;
    for (uint64_t r = 0; r < n; r++) {
        char text[1100], sb[64];
        const char *t;
        if (r < count) {
            ferry_bytes_to_bpe_text(bytes[r], blen[r], text);
            t = text;
            v->types[r] = FERRY_TOK_NORMAL;
        } else if (r < count + N_SPECIAL) {
            t = special_name((unsigned)(r - count), sb, sizeof(sb));
            v->types[r] = FERRY_TOK_CONTROL;
        } else {
            snprintf(sb, sizeof(sb), "[PAD%llu]", (unsigned long long)r);
            t = sb;
            v->types[r] = FERRY_TOK_UNUSED;
        }
        if (!(v->tokens[r].s = strdup(t))) goto oom;
        v->tokens[r].len = strlen(t);
        size_t cut;
        if (r < count && blen[r] >= 2 && split_of(&rm, bytes[r], blen[r], (int32_t)r, &cut) == 0) {
            char a[600], b[600], mg[1300];
            ferry_bytes_to_bpe_text(bytes[r], cut, a);
            ferry_bytes_to_bpe_text(bytes[r] + cut, blen[r] - cut, b);
            snprintf(mg, sizeof(mg), "%s %s", a, b);
            if (!(v->merges[v->nmerges].s = strdup(mg))) goto oom;
            v->merges[v->nmerges++].len = strlen(mg);
        }
    }
    goto out;
oom:
    rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
out:
    for (uint64_t r = 0; bytes && r < base; r++) free(bytes[r]);
    free(bytes);
    free(blen);
    free(rm.slot);
    ferry_map_close(&map);
    if (rc) ferry_vocab_free(v);
    return rc;
}

int ferry_vocab_is_tiktoken(const char *path)
{
    FILE *f = ferry_fopen_regular(path, NULL);
    char head[64] = "";
    size_t got = f ? fread(head, 1, sizeof(head) - 1, f) : 0;
    if (f) fclose(f);
    head[got] = 0;
    return got && strchr(head, ' ') &&
           strspn(head, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n") ==
               got;
}
