/* Hugging Face tokenizer.json with a BPE model, in either of the shapes the Llama family uses:
 * - byte-level (Llama 3): tokens ordered by id in the byte-level alphabet, merges as "left right"
 *   strings (either form the file uses), added tokens as control tokens when special or when
 *   they look special (<|...|>);
 * - sentencepiece pieces with byte fallback (Llama 2 and its kin, written by transformers'
 *   converter): read as the sentencepiece vocabulary it came from. sentencepiece joins the pair
 *   whose joined piece scores best, BPE the pair of lowest merge rank, so a piece's score is
 *   minus the rank of the first merge that makes it (pieces no merge makes score below all),
 *   <0xNN> pieces are byte tokens, and <s>, </s> and the unk_token are what they name. */
#include "ferry/json_file.h"
#include "ferry/vocab.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ferry_vocab_from_tokenizer_json(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                                    struct ferry_error *err)
{
    memset(v, 0, sizeof(*v));
    json_t *root;
    int jrc = ferry_json_load(path, JSON_REJECT_DUPLICATES, &root, err);
    if (jrc) return jrc;
    int rc = 0;
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges"),
           *added = json_object_get(root, "added_tokens");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type || strcmp(type, "BPE") || !json_is_object(vocab) || !json_is_array(merges)) {
        rc = ferry_error_set(
            err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, "model",
            "only BPE tokenizer.json files (model.type BPE, vocab, merges) are supported");
        goto out;
    }
    uint64_t maxid = 0;
    const char *k;
    json_t *val;
    json_object_foreach(vocab, k, val)
    {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) > (1 << 24)) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, k,
                                 "token id out of range");
            goto out;
        }
        if ((uint64_t)json_integer_value(val) + 1 > maxid)
            maxid = (uint64_t)json_integer_value(val) + 1;
    }
    for (size_t i = 0; json_is_array(added) && i < json_array_size(added); i++) {
        json_int_t id = json_integer_value(json_object_get(json_array_get(added, i), "id"));
        if (id >= 0 && id < (1 << 24) && (uint64_t)id + 1 > maxid) maxid = (uint64_t)id + 1;
    }
    uint64_t n = vocab_size > maxid ? vocab_size : maxid;
    v->tokens = calloc(n, sizeof(*v->tokens));
    v->types = calloc(n, sizeof(int32_t));
    v->merges = calloc(json_array_size(merges) + 1, sizeof(*v->merges));
    if (!v->tokens || !v->types || !v->merges) goto oom;
    v->n = n;
    int spm = json_is_true(json_object_get(model, "byte_fallback"));
    v->model = spm ? "llama" : "gpt2";
    v->pre = spm ? "default" : "llama-bpe";
    v->bos = v->eos = v->unk = v->pad = -1;
    v->add_bos = 1;
    if (spm && !(v->scores = calloc(n, sizeof(float)))) goto oom;
    for (uint64_t i = 0; i < n; i++) {
        char pad[32];
        int l = snprintf(pad, sizeof(pad), "[PAD%llu]", (unsigned long long)i);
        if (ferry_str_set(&v->tokens[i], pad, (size_t)l)) goto oom;
        v->types[i] = FERRY_TOK_UNUSED;
    }
    json_object_foreach(vocab, k, val)
    {
        uint64_t id = (uint64_t)json_integer_value(val);
        if (ferry_str_set(&v->tokens[id], k, strlen(k))) goto oom;
        v->types[id] = FERRY_TOK_NORMAL;
    }
    for (size_t i = 0; json_is_array(added) && i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        const char *content = json_string_value(json_object_get(a, "content"));
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (!content || id < 0 || (uint64_t)id >= n) continue;
        size_t cl = strlen(content);
        int looks = cl >= 4 && !strncmp(content, "<|", 2) && !strcmp(content + cl - 2, "|>");
        if (ferry_str_set(&v->tokens[id], content, cl)) goto oom;
        v->types[id] = json_is_true(json_object_get(a, "special")) || looks
                           ? FERRY_TOK_CONTROL
                           : FERRY_TOK_USER_DEFINED;
        if (!strcmp(content, spm ? "<s>" : "<|begin_of_text|>")) v->bos = id;
        if (!strcmp(content, spm ? "</s>" : "<|end_of_text|>")) v->eos = id;
    }
    if (spm) {
        json_t *unk =
            json_object_get(vocab, json_string_value(json_object_get(model, "unk_token")) ?: "");
        if (json_is_integer(unk))
            v->unk = json_integer_value(unk), v->types[v->unk] = FERRY_TOK_UNKNOWN;
        for (uint64_t i = 0; i < n; i++) {
            const struct ferry_str *t = &v->tokens[i];
            v->scores[i] = -(float)(json_array_size(merges) + i);
            if (v->types[i] == FERRY_TOK_NORMAL && t->len == 6 && !memcmp(t->s, "<0x", 3) &&
                t->s[5] == '>')
                v->types[i] = FERRY_TOK_BYTE, v->scores[i] = 0;
            else if (v->types[i] != FERRY_TOK_NORMAL)
                v->scores[i] = 0;
        }
    }
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *mg = json_array_get(merges, i);
        char buf[1024];
        const char *a = json_string_value(json_array_get(mg, 0)),
                   *b = json_string_value(json_array_get(mg, 1));
        int len = -1;
        if (json_is_string(mg) && strchr(json_string_value(mg) + (json_string_length(mg) > 0), ' '))
            len = snprintf(buf, sizeof(buf), "%s", json_string_value(mg));
        else if (json_is_array(mg) && json_array_size(mg) == 2 && a && b)
            len = snprintf(buf, sizeof(buf), "%s %s", a, b);
        if (len < 0 || (size_t)len >= sizeof(buf)) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, "model.merges",
                                 "merge %zu is neither \"a b\" nor [\"a\", \"b\"] (strings, under "
                                 "1024 bytes)",
                                 i);
            goto out;
        }
        if (spm) { /* the joined piece's score from the first merge that makes it */
            char joined[1024];
            const char *sp = strchr(buf + 1, ' ');
            if (!sp) continue;
            snprintf(joined, sizeof(joined), "%.*s%s", (int)(sp - buf), buf, sp + 1);
            json_t *id = json_object_get(vocab, joined);
            if (json_is_integer(id) && v->scores[json_integer_value(id)] < -(float)i)
                v->scores[json_integer_value(id)] = -(float)i;
            continue;
        }
        if (ferry_str_set(&v->merges[i], buf, strlen(buf))) goto oom;
        v->nmerges = i + 1;
    }
    goto out;
oom:
    rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
out:
    json_decref(root);
    if (rc) ferry_vocab_free(v);
    return rc;
}
