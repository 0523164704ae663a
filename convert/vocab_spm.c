/* sentencepiece tokenizer.model reader: a protobuf ModelProto whose field 1 repeats
 * SentencePiece {1: piece (string), 2: score (float), 3: type (enum, default NORMAL)}.
 * Other fields (trainer and normalizer specs) are skipped by wire type. */
#include "ferry/vocab.h"
#include "ferry/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SP_NORMAL = 1,
    SP_UNKNOWN = 2,
    SP_CONTROL = 3,
    SP_USER_DEFINED = 4,
    SP_BYTE = 6,
    SP_UNUSED = 5
};

struct pb {
    const uint8_t *p;
    uint64_t pos, end;
};

static int varint(struct pb *b, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->pos >= b->end) return -1;
        uint8_t c = b->p[b->pos++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

/* Skips a field of the given wire type; -1 when malformed. */
static int skip(struct pb *b, unsigned wt)
{
    uint64_t v;
    switch (wt) {
    case 0: return varint(b, &v);
    case 1: return b->end - b->pos < 8 ? -1 : (b->pos += 8, 0);
    case 5: return b->end - b->pos < 4 ? -1 : (b->pos += 4, 0);
    case 2:
        if (varint(b, &v) || v > b->end - b->pos) return -1;
        b->pos += v;
        return 0;
    default: return -1;
    }
}

void ferry_vocab_free(struct ferry_vocab *v)
{
    for (uint64_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i].s);
    for (uint64_t i = 0; v->merges && i < v->nmerges; i++) free(v->merges[i].s);
    free(v->tokens);
    free(v->scores);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof(*v));
}

int ferry_vocab_from_spm(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                         struct ferry_error *err)
{
    memset(v, 0, sizeof(*v));
    struct ferry_map m;
    int rc = ferry_map_open(&m, path, err);
    if (rc) return rc;
    /* count pieces first */
    struct pb b = {m.data, 0, m.size};
    uint64_t count = 0, key, len;
    while (b.pos < b.end) {
        if (varint(&b, &key) || skip(&b, (unsigned)(key & 7))) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, b.pos, NULL,
                                 "not a sentencepiece model (malformed protobuf)");
            goto out;
        }
        if (key == (1 << 3 | 2)) count++;
    }
    if (count == 0) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                             "sentencepiece model has no pieces");
        goto out;
    }
    uint64_t n = vocab_size ? vocab_size : count;
    v->tokens = calloc(n, sizeof(*v->tokens));
    v->scores = calloc(n, sizeof(float));
    v->types = calloc(n, sizeof(int32_t));
    if (!v->tokens || !v->scores || !v->types) goto oom;
    v->n = n;
    v->model = "llama";
    v->pre = "default";
    v->bos = v->eos = v->unk = v->pad = -1;
    v->add_bos = 1;
    /* [PADi] with score -10000 and type unused unless the model fills the id */
    for (uint64_t i = 0; i < n; i++) {
        char pad[32];
        int l = snprintf(pad, sizeof(pad), "[PAD%llu]", (unsigned long long)i);
        if (ferry_str_set(&v->tokens[i], pad, (size_t)l)) goto oom;
        v->scores[i] = -10000.0f;
        v->types[i] = FERRY_TOK_UNUSED;
    }
    b.pos = 0;
    uint64_t id = 0;
    while (b.pos < b.end) {
        varint(&b, &key);
        if (key != (1 << 3 | 2)) {
            skip(&b, (unsigned)(key & 7));
            continue;
        }
        varint(&b, &len);
        struct pb s = {m.data, b.pos, b.pos + len};
        b.pos += len;
        const char *piece = "";
        uint64_t plen = 0, type = SP_NORMAL;
        float score = 0.0f;
        while (s.pos < s.end) {
            if (varint(&s, &key)) goto bad;
            if (key == (1 << 3 | 2)) {
                if (varint(&s, &plen) || plen > s.end - s.pos) goto bad;
                piece = (const char *)m.data + s.pos;
                s.pos += plen;
            } else if (key == (2 << 3 | 5)) {
                if (s.end - s.pos < 4) goto bad;
                memcpy(&score, m.data + s.pos, 4);
                s.pos += 4;
            } else if (key == (3 << 3 | 0)) {
                if (varint(&s, &type)) goto bad;
            } else if (skip(&s, (unsigned)(key & 7)))
                goto bad;
        }
        if (id < n) {
            if (ferry_str_set(&v->tokens[id], piece, (size_t)plen)) goto oom;
            v->scores[id] = score;
            /* llama.cpp checks unknown, control, unused, byte; everything else is normal */
            v->types[id] = type == SP_UNKNOWN   ? FERRY_TOK_UNKNOWN
                           : type == SP_CONTROL ? FERRY_TOK_CONTROL
                           : type == SP_UNUSED  ? FERRY_TOK_UNUSED
                           : type == SP_BYTE    ? FERRY_TOK_BYTE
                                                : FERRY_TOK_NORMAL;
            if (type == SP_UNKNOWN && v->unk < 0) v->unk = (int64_t)id;
            if (type == SP_CONTROL && plen == 3 && !memcmp(piece, "<s>", 3)) v->bos = (int64_t)id;
            if (type == SP_CONTROL && plen == 4 && !memcmp(piece, "</s>", 4)) v->eos = (int64_t)id;
        }
        id++;
    }
    goto out;
bad:
    rc = ferry_error_set(err, FERRY_EMALFORMED, path, b.pos, NULL,
                         "malformed sentencepiece piece %llu", (unsigned long long)id);
    goto out;
oom:
    rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
out:
    ferry_map_close(&m);
    if (rc) ferry_vocab_free(v);
    return rc;
}

static size_t varint_put(uint8_t *b, uint64_t v)
{
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

int ferry_vocab_write_spm(const struct ferry_str *tokens, const float *scores, const int32_t *types,
                          uint64_t n, const char *path, int force, struct ferry_error *err)
{
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, force, err);
    for (uint64_t i = 0; !rc && i < n; i++) {
        /* SentencePiece {1: piece, 2: score (fixed32), 3: type (omitted when NORMAL)}, written
         * in parts so a piece of any length keeps its place (ids are positions) */
        uint8_t head[32], tail[8];
        size_t h = 0, k = 0, ph = 0;
        uint8_t ptag[16];
        ptag[ph++] = 0x0a;
        ph += varint_put(ptag + ph, tokens[i].len);
        tail[k++] = 0x15;
        memcpy(tail + k, &scores[i], 4);
        k += 4;
        int32_t t = types && types[i] >= 1 && types[i] <= 6 ? types[i] : 1;
        if (t != 1) {
            tail[k++] = 0x18;
            tail[k++] = (uint8_t)t;
        }
        head[h++] = 0x0a; /* ModelProto field 1, repeated */
        h += varint_put(head + h, ph + tokens[i].len + k);
        memcpy(head + h, ptag, ph);
        h += ph;
        if (!(rc = ferry_out_write(&o, head, h, err)) &&
            !(rc = ferry_out_write(&o, tokens[i].s, tokens[i].len, err)))
            rc = ferry_out_write(&o, tail, k, err);
    }
    if (!rc)
        rc = ferry_out_commit(&o, err);
    else if (o.fp)
        ferry_out_abort(&o);
    return rc;
}
