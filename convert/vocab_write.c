/* Tokenizer files written from a vocabulary, so a model converted out of GGUF keeps its
 * tokenizer: tokenizer_config.json, special_tokens_map.json and generation_config.json for a
 * Hugging Face directory (tokenizer.json is vocab_tokenizer_json.c's), and Meta's tiktoken
 * tokenizer.model for a Meta directory. */
#include "ferry/file.h"
#include "ferry/json_file.h"
#include "ferry/vocab.h"
#include "ferry/codec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *json_token(const struct ferry_str *s)
{
    return json_stringn(s->s, (size_t)s->len);
}

static json_t *token_or_null(const struct ferry_vocab *v, int64_t id)
{
    return id >= 0 && (uint64_t)id < v->n ? json_token(&v->tokens[id]) : json_null();
}

int ferry_vocab_write_hf_configs(const struct ferry_vocab *v, const char *dir, uint64_t max_len,
                                 int force, struct ferry_error *err)
{
    char path[4200];
    /* clean_up_tokenization_spaces off, as Llama 2's files have it: on, decoding drops the
     * space before punctuation and no longer gives the text back */
    json_t *cfg =
        json_pack("{s:o, s:o, s:b, s:b, s:s, s:I, s:b}", "bos_token", token_or_null(v, v->bos),
                  "eos_token", token_or_null(v, v->eos), "add_bos_token", v->add_bos != 0,
                  "add_eos_token", v->add_eos != 0, "tokenizer_class",
                  strcmp(v->model, "gpt2") ? "LlamaTokenizer" : "PreTrainedTokenizerFast",
                  "model_max_length", (json_int_t)max_len, "clean_up_tokenization_spaces", 0);
    if (v->unk >= 0) json_object_set_new(cfg, "unk_token", token_or_null(v, v->unk));
    if (v->pad >= 0) json_object_set_new(cfg, "pad_token", token_or_null(v, v->pad));
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    int rc = ferry_json_save(path, cfg, force, err);
    json_t *map = json_pack("{s:o, s:o}", "bos_token", token_or_null(v, v->bos), "eos_token",
                            token_or_null(v, v->eos));
    if (v->unk >= 0) json_object_set_new(map, "unk_token", token_or_null(v, v->unk));
    snprintf(path, sizeof(path), "%s/special_tokens_map.json", dir);
    if (!rc)
        rc = ferry_json_save(path, map, force, err);
    else
        json_decref(map);
    json_t *gen = json_object();
    if (v->bos >= 0) json_object_set_new(gen, "bos_token_id", json_integer(v->bos));
    if (v->eos >= 0) json_object_set_new(gen, "eos_token_id", json_integer(v->eos));
    snprintf(path, sizeof(path), "%s/generation_config.json", dir);
    if (!rc)
        rc = ferry_json_save(path, gen, force, err);
    else
        json_decref(gen);
    return rc;
}

/* GPT-2's byte-level alphabet back to bytes: each code point of the text stands for a byte. */
static int bpe_text_to_bytes(const struct ferry_str *s, uint8_t *out, size_t cap, size_t *n)
{
    static int16_t inv[0x144];
    static int ready;
    if (!ready) { /* the inverse of ferry_bytes_to_bpe_text, from the function itself */
        for (unsigned c = 0; c < 0x144; c++) inv[c] = -1;
        for (unsigned b = 0; b < 256; b++) {
            uint8_t one = (uint8_t)b;
            char t[4];
            ferry_bytes_to_bpe_text(&one, 1, t);
            unsigned c0 = (uint8_t)t[0], c1 = (uint8_t)t[1];
            unsigned cp = c0 < 0x80 ? c0 : ((c0 & 0x1fu) << 6) | (c1 & 0x3fu);
            inv[cp] = (int16_t)b;
        }
        ready = 1;
    }
    size_t k = 0;
    for (uint64_t i = 0; i < s->len;) {
        unsigned c = (uint8_t)s->s[i], cp;
        if (c < 0x80)
            cp = c, i++;
        else if ((c >> 5) == 6 && i + 1 < s->len)
            cp = ((c & 0x1fu) << 6) | ((unsigned)(uint8_t)s->s[i + 1] & 0x3fu), i += 2;
        else
            return -1;
        if (cp >= 0x144 || inv[cp] < 0 || k == cap) return -1;
        out[k++] = (uint8_t)inv[cp];
    }
    *n = k;
    return 0;
}

int ferry_vocab_write_tiktoken(const struct ferry_vocab *v, const char *path, int force,
                               struct ferry_error *err)
{
    if (strcmp(v->model, "gpt2"))
        return ferry_error_set(
            err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
            "a tiktoken tokenizer.model is written for byte-level BPE vocabularies");
    /* the ranks are the ids of the normal tokens, which come first; the special tokens after
     * them are implied by the format (Meta's tokenizer names them in code) */
    uint64_t count = 0;
    while (count < v->n && (!v->types || v->types[count] == FERRY_TOK_NORMAL)) count++;
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, force, err);
    for (uint64_t i = 0; !rc && i < count; i++) {
        size_t n, cap = (size_t)v->tokens[i].len + 1; /* a byte per character at most */
        uint8_t *bytes = malloc(cap);
        if (!bytes || bpe_text_to_bytes(&v->tokens[i], bytes, cap, &n) || n == 0) {
            rc = bytes ? ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                         "token %llu is not in the byte-level alphabet",
                                         (unsigned long long)i)
                       : ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
            free(bytes);
            break;
        }
        char *b64 = ferry_base64_encode(bytes, n), line[64];
        free(bytes);
        if (!b64) {
            rc =
                ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
            break;
        }
        int l = snprintf(line, sizeof(line), " %llu\n", (unsigned long long)i);
        if (!(rc = ferry_out_write(&o, b64, strlen(b64), err)))
            rc = ferry_out_write(&o, line, (uint64_t)l, err);
        free(b64);
    }
    if (!rc)
        rc = ferry_out_commit(&o, err);
    else if (o.fp)
        ferry_out_abort(&o);
    return rc;
}
