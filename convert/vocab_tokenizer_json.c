/* Hugging Face tokenizer.json written from a vocabulary, in the two shapes the Llama family's
 * hub repositories carry:
 * - byte-level BPE (Llama 3): the tiktoken split expression, the GPT-2 byte alphabet, the GGUF's
 *   merges;
 * - sentencepiece (Llama 2, TinyLlama, Mistral): a BPE model with byte fallback over the pieces,
 *   a normalizer that prefixes "▁" and turns spaces into "▁", and merges derived from the piece
 *   scores (every split of a piece into two pieces, ranked by the joined piece's score, as
 *   transformers' converter derives them), so BPE merging picks the pairs sentencepiece picks.
 * Both add BOS (and EOS) through a template post-processor as the GGUF's add_bos/add_eos say: a
 * tokenizer that forgets BOS gives a Llama model silently worse logits. */
#include "ferry/json_file.h"
#include "ferry/vocab.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Llama 3's pre-tokenizer split (the regular expression of Meta's tiktoken model) */
static const char llama3_split[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char metaspace[] = "\xe2\x96\x81"; /* U+2581, sentencepiece's space */

static int special(int32_t type)
{
    return type == FERRY_TOK_CONTROL || type == FERRY_TOK_UNKNOWN || type == FERRY_TOK_USER_DEFINED;
}

static json_t *json_token(const struct ferry_str *s)
{
    return json_stringn(s->s, (size_t)s->len);
}

/* ---- merges of a sentencepiece vocabulary */

struct piece_ref {
    const struct ferry_str *s;
    int64_t id;
};

struct merge {
    float score; /* of the joined piece */
    int64_t id, left, right;
};

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int cmp_piece(const void *x, const void *y)
{
    const struct piece_ref *a = x, *b = y;
    return cmp_bytes(a->s->s, (size_t)a->s->len, b->s->s, (size_t)b->s->len);
}

static int cmp_merge(const void *x, const void *y)
{
    const struct merge *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1; /* best score first */
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    if (a->left != b->left) return a->left < b->left ? -1 : 1;
    return (a->right > b->right) - (a->right < b->right);
}

static int64_t find_piece(const struct piece_ref *sorted, uint64_t n, const char *s, size_t len)
{
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes(sorted[mid].s->s, (size_t)sorted[mid].s->len, s, len);
        if (!c) return sorted[mid].id;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* "LEFT RIGHT" merges for every normal piece that splits (at a character boundary) into two
 * pieces of the vocabulary; NULL when out of memory */
static json_t *spm_merges(const struct ferry_vocab *v)
{
    struct piece_ref *sorted = malloc((v->n ? v->n : 1) * sizeof(*sorted));
    struct merge *m = NULL;
    uint64_t nm = 0, cap = 0;
    json_t *out = NULL;
    if (!sorted) return NULL;
    for (uint64_t i = 0; i < v->n; i++) sorted[i] = (struct piece_ref){&v->tokens[i], (int64_t)i};
    qsort(sorted, v->n, sizeof(*sorted), cmp_piece);
    for (uint64_t i = 0; i < v->n; i++) {
        if (v->types && v->types[i] != FERRY_TOK_NORMAL && v->types[i] != FERRY_TOK_USER_DEFINED)
            continue;
        const char *s = v->tokens[i].s;
        size_t len = (size_t)v->tokens[i].len;
        for (size_t k = 1; k < len; k++) {
            if (((uint8_t)s[k] & 0xc0) == 0x80) continue; /* inside a UTF-8 character */
            int64_t l = find_piece(sorted, v->n, s, k),
                    r = find_piece(sorted, v->n, s + k, len - k);
            if (l < 0 || r < 0) continue;
            if (nm == cap) {
                struct merge *g = realloc(m, (cap = cap ? 2 * cap : 4096) * sizeof(*m));
                if (!g) goto out;
                m = g;
            }
            m[nm++] = (struct merge){v->scores ? v->scores[i] : -(float)i, (int64_t)i, l, r};
        }
    }
    qsort(m, nm, sizeof(*m), cmp_merge);
    out = json_array();
    for (uint64_t i = 0; out && i < nm; i++) {
        const struct ferry_str *a = &v->tokens[m[i].left], *b = &v->tokens[m[i].right];
        char *t = malloc((size_t)(a->len + b->len) + 2);
        if (!t) {
            json_decref(out), out = NULL;
            break;
        }
        memcpy(t, a->s, (size_t)a->len);
        t[a->len] = ' ';
        memcpy(t + a->len + 1, b->s, (size_t)b->len);
        json_array_append_new(out, json_stringn(t, (size_t)(a->len + b->len + 1)));
        free(t);
    }
out:
    free(sorted);
    free(m);
    return out;
}

/* ---- the document */

static void append_special(json_t *seq, json_t *specials, const struct ferry_vocab *v, int64_t id,
                           int type_id)
{
    if (id < 0 || (uint64_t)id >= v->n) return;
    json_t *name = json_token(&v->tokens[id]);
    json_array_append_new(
        seq, json_pack("{s:{s:O, s:i}}", "SpecialToken", "id", name, "type_id", type_id));
    json_object_set_new(
        specials, json_string_value(name),
        json_pack("{s:O, s:[I], s:[O]}", "id", name, "ids", (json_int_t)id, "tokens", name));
    json_decref(name);
}

/* "BOS $A EOS" as the vocabulary adds them; pairs "BOS $A EOS BOS $B EOS", as transformers'
 * Llama tokenizers build it */
static json_t *template_processor(const struct ferry_vocab *v)
{
    json_t *single = json_array(), *pair = json_array(), *specials = json_object();
    int64_t bos = v->add_bos ? v->bos : -1, eos = v->add_eos ? v->eos : -1;
    for (int k = 0; k < 3; k++) { /* single $A; pair $A then $B */
        json_t *seq = k ? pair : single;
        int type_id = k == 2;
        append_special(seq, specials, v, bos, type_id);
        json_array_append_new(seq, json_pack("{s:{s:s, s:i}}", "Sequence", "id",
                                             type_id ? "B" : "A", "type_id", type_id));
        append_special(seq, specials, v, eos, type_id);
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "type", "TemplateProcessing", "single", single, "pair",
                     pair, "special_tokens", specials);
}

int ferry_vocab_write_tokenizer_json(const struct ferry_vocab *v, const char *path, int force,
                                     struct ferry_error *err)
{
    int bpe = !strcmp(v->model, "gpt2");
    if (!bpe && strcmp(v->model, "llama"))
        return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                               "tokenizer.json is written for byte-level BPE and sentencepiece "
                               "vocabularies, not \"%s\"",
                               v->model);
    json_t *vocab = json_object(), *added = json_array();
    for (uint64_t i = 0; i < v->n; i++) {
        json_t *text = json_token(&v->tokens[i]);
        if (!text) {
            json_decref(vocab), json_decref(added);
            return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                   "token %llu is not UTF-8 text", (unsigned long long)i);
        }
        int is_special = v->types && special(v->types[i]);
        if (is_special)
            json_array_append_new(added,
                                  json_pack("{s:I, s:O, s:b, s:b, s:b, s:b, s:b}", "id",
                                            (json_int_t)i, "content", text, "single_word", 0,
                                            "lstrip", 0, "rstrip", 0, "normalized", 0, "special",
                                            v->types[i] != FERRY_TOK_USER_DEFINED));
        /* a sentencepiece model's pieces are all in its vocabulary (the specials too, as the
         * hub's Llama 2 files have them); byte-level BPE keeps the specials out */
        if (!bpe || !is_special)
            json_object_set_new(vocab, json_string_value(text), json_integer((json_int_t)i));
        json_decref(text);
    }
    json_t *merges = NULL;
    if (bpe) {
        merges = json_array();
        for (uint64_t i = 0; i < v->nmerges; i++)
            json_array_append_new(merges, json_token(&v->merges[i]));
    } else if (!(merges = spm_merges(v))) {
        json_decref(vocab), json_decref(added);
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    json_t *doc;
    if (bpe) {
        json_t *pre =
            json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type",
                      "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
                      llama3_split, "behavior", "Isolated", "invert", 0, "type", "ByteLevel",
                      "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
        json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type",
                                  "BPE", "dropout", "unk_token", "continuing_subword_prefix",
                                  "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                                  "ignore_merges", 1, "vocab", vocab, "merges", merges);
        json_t *post = json_pack("{s:s, s:[{s:s, s:b, s:b, s:b}, o]}", "type", "Sequence",
                                 "processors", "type", "ByteLevel", "add_prefix_space", 1,
                                 "trim_offsets", 0, "use_regex", 1, template_processor(v));
        doc =
            json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:{s:s, s:b, s:b, s:b}, s:o}", "version",
                      "1.0", "truncation", "padding", "added_tokens", added, "normalizer",
                      "pre_tokenizer", pre, "post_processor", post, "decoder", "type", "ByteLevel",
                      "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1, "model", model);
    } else {
        json_t *unk =
            v->unk >= 0 && (uint64_t)v->unk < v->n ? json_token(&v->tokens[v->unk]) : json_null();
        json_t *model = json_pack("{s:s, s:n, s:o, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type",
                                  "BPE", "dropout", "unk_token", unk, "continuing_subword_prefix",
                                  "end_of_word_suffix", "fuse_unk", 1, "byte_fallback", 1,
                                  "ignore_merges", 0, "vocab", vocab, "merges", merges);
        json_t *norm = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence",
                                 "normalizers", "type", "Prepend", "prepend", metaspace, "type",
                                 "Replace", "pattern", "String", " ", "content", metaspace);
        json_t *dec =
            json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}", "type",
                      "Sequence", "decoders", "type", "Replace", "pattern", "String", metaspace,
                      "content", " ", "type", "ByteFallback", "type", "Fuse", "type", "Strip",
                      "content", " ", "start", 1, "stop", 0);
        doc = json_pack("{s:s, s:n, s:n, s:o, s:o, s:n, s:o, s:o, s:o}", "version", "1.0",
                        "truncation", "padding", "added_tokens", added, "normalizer", norm,
                        "pre_tokenizer", "post_processor", template_processor(v), "decoder", dec,
                        "model", model);
    }
    if (!doc)
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    return ferry_json_save(path, doc, force, err);
}
