/* A vocabulary from whatever holds one: a model directory (tokenizer.model, tokenizer.json,
 * tokenizer.bin), a GGUF file's tokenizer.ggml.* keys, tokenizer.json, a sentencepiece or
 * tiktoken tokenizer.model, a llama2.c tokenizer.bin. Used by the tokenizer and by
 * `convert --vocab-from`. */
#define _GNU_SOURCE
#include "ferry/ckpt.h"
#include "ferry/gguf.h"
#include "ferry/llama2c.h"
#include "ferry/archive.h"
#include "ferry/vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* llama2.c tokenizer.bin: tokens and scores; ids 0-2 are <unk>, <s>, </s> */
int ferry_vocab_from_llama2c(const char *path, struct ferry_vocab *v, struct ferry_error *err)
{
    struct ferry_ckpt ck;
    ferry_ckpt_init(&ck);
    int rc = ferry_llama2c_tokenizer_read(&ck, path, err);
    if (!rc) {
        const struct ferry_kv *tk = ferry_ckpt_find_kv(&ck, "tokenizer.ggml.tokens");
        const struct ferry_kv *sk = ferry_ckpt_find_kv(&ck, "tokenizer.ggml.scores");
        uint64_t n = tk->val.count;
        memset(v, 0, sizeof(*v));
        v->model = "llama";
        v->pre = "default";
        v->n = n;
        v->tokens = tk->val.arr;
        v->scores = sk->val.arr;
        v->types = calloc(n ? n : 1, sizeof(int32_t));
        ((struct ferry_kv *)tk)->val.arr = NULL, ((struct ferry_kv *)tk)->val.count = 0;
        ((struct ferry_kv *)sk)->val.arr = NULL, ((struct ferry_kv *)sk)->val.count = 0;
        for (uint64_t i = 0; v->types && i < n; i++)
            v->types[i] = i < 3 ? FERRY_TOK_CONTROL : FERRY_TOK_NORMAL;
        /* llama2.c exported pieces with U+2581 turned into ' ': restore sentencepiece's form */
        for (uint64_t i = 3; !rc && v->types && i < n; i++) {
            struct ferry_str *piece = &v->tokens[i];
            size_t spaces = 0;
            for (uint64_t k = 0; k < piece->len; k++) spaces += piece->s[k] == ' ';
            if (!spaces) continue;
            char *o = malloc((size_t)piece->len + 2 * spaces + 1);
            if (!o) {
                rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
                break;
            }
            size_t j = 0;
            for (uint64_t k = 0; k < piece->len; k++) {
                if (piece->s[k] == ' ')
                    memcpy(o + j, "\xe2\x96\x81", 3), j += 3;
                else
                    o[j++] = piece->s[k];
            }
            o[j] = 0;
            free(piece->s);
            piece->s = o;
            piece->len = j;
        }
        v->unk = 0, v->bos = 1, v->eos = 2, v->pad = -1;
        v->add_bos = 1;
        if (!v->types)
            rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    }
    ferry_ckpt_free(&ck);
    return rc;
}

int ferry_vocab_load(const char *path, uint64_t vocab_size, struct ferry_vocab *v,
                     struct ferry_error *err)
{
    memset(v, 0, sizeof(*v));
    int rc;
    struct stat st;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t bl = strlen(base);
    int kind = ferry_path_kind(path); /* ARCHIVE//PATH too */
    if (kind < 0 && stat(path, &st) != 0)
        return ferry_error_set(err, ferry_errno_code(errno), path, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    if (kind == 1) {
        static const char *names[] = {"tokenizer.model", "tokenizer.json", "tokenizer.bin"};
        char p[4200];
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            snprintf(p, sizeof(p), "%s/%s", path, names[i]);
            if (ferry_path_kind(p) == 0) return ferry_vocab_load(p, vocab_size, v, err);
        }
        return ferry_error_set(err, FERRY_ENOINPUT, path, FERRY_NO_OFFSET, NULL,
                               "no tokenizer file in the folder (tokenizer.model, tokenizer.json "
                               "or tokenizer.bin)");
    }
    if (bl > 5 && !strcmp(base + bl - 5, ".gguf")) {
        struct ferry_ckpt ck;
        ferry_ckpt_init(&ck);
        rc = ferry_gguf_read(&ck, path, err);
        if (!rc) {
            rc = ferry_vocab_from_kvs(&ck, v, err);
            if (rc == 1)
                rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                     "GGUF holds no tokenizer");
        }
        ferry_ckpt_free(&ck);
    } else if (!strcmp(base, "tokenizer.bin"))
        rc = ferry_vocab_from_llama2c(path, v, err);
    else if (bl > 5 && !strcmp(base + bl - 5, ".json"))
        rc = ferry_vocab_from_tokenizer_json(path, vocab_size, v, err);
    else if (ferry_vocab_is_tiktoken(path))
        rc = ferry_vocab_from_tiktoken(path, vocab_size, v, err);
    else
        rc = ferry_vocab_from_spm(path, vocab_size, v, err);
    if (!rc) rc = ferry_vocab_check(v, path, err);
    if (rc) ferry_vocab_free(v);
    return rc;
}
