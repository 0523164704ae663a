/* Chat prompts built by code, never by evaluating a template: Llama 3 instruct (header tokens
 * around each turn) when the vocabulary has them, else Llama 2 chat ([INST] <<SYS>> ...). */
#define _GNU_SOURCE
#include "tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends the tokens of text (no BOS) to a; 0 or a FERRY_E* code. */
static int push_text(const struct ferry_tokenizer *t, const char *text, struct ids *a,
                     struct ferry_error *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = ferry_tokenize(t, text, strlen(text), 0, &ids, &n, err);
    for (size_t i = 0; !rc && i < n; i++)
        if (ids_push(a, ids[i])) rc = FERRY_EINTERNAL;
    free(ids);
    return rc;
}

static int push_id(struct ids *a, int32_t id)
{
    return ids_push(a, id) ? FERRY_EINTERNAL : 0;
}

static int llama3(const struct ferry_tokenizer *t, const char *system, const char *user,
                  struct ids *a, struct ferry_error *err)
{
    int32_t start = ferry_token_id(t, "<|start_header_id|>"),
            end = ferry_token_id(t, "<|end_header_id|>"), eot = ferry_token_id(t, "<|eot_id|>");
    if (end < 0 || eot < 0)
        return ferry_error_set(err, FERRY_EMALFORMED, NULL, FERRY_NO_OFFSET, NULL,
                               "the vocabulary has <|start_header_id|> but not <|end_header_id|> "
                               "and <|eot_id|>: not a Llama 3 instruct vocabulary");
    const char *roles[3] = {"system", "user", "assistant"}, *texts[3] = {system, user, NULL};
    int rc = t->bos >= 0 ? push_id(a, t->bos) : 0;
    for (int r = 0; r < 3 && !rc; r++) {
        if (r == 0 && !system) continue;
        /* <|start_header_id|>ROLE<|end_header_id|>\n\nTEXT<|eot_id|>; the assistant's turn is
         * left open after its header */
        if (!(rc = push_id(a, start)) && !(rc = push_text(t, roles[r], a, err)) &&
            !(rc = push_id(a, end)) && !(rc = push_text(t, "\n\n", a, err)) && texts[r] &&
            !(rc = push_text(t, texts[r], a, err)))
            rc = push_id(a, eot);
    }
    return rc;
}

static int llama2(const struct ferry_tokenizer *t, const char *system, const char *user,
                  struct ids *a, struct ferry_error *err)
{
    char *text = NULL;
    int len = system ? asprintf(&text, "[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]", system, user)
                     : asprintf(&text, "[INST] %s [/INST]", user);
    if (len < 0) return FERRY_EINTERNAL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = ferry_tokenize_ex(t, text, (size_t)len, 1, 1, &ids, &n, err);
    for (size_t i = 0; !rc && i < n; i++) rc = push_id(a, ids[i]);
    free(ids);
    free(text);
    return rc;
}

int ferry_chat_prompt(const struct ferry_tokenizer *t, const char *system, const char *user,
                      int32_t **ids, size_t *n, struct ferry_error *err)
{
    struct ids a = {0};
    int rc = ferry_token_id(t, "<|start_header_id|>") >= 0 ? llama3(t, system, user, &a, err)
                                                           : llama2(t, system, user, &a, err);
    if (rc) {
        free(a.v);
        return rc == FERRY_EINTERNAL ? ferry_error_set(err, rc, NULL, FERRY_NO_OFFSET, NULL,
                                                       "out of memory building the chat prompt")
                                     : rc;
    }
    *ids = a.v;
    *n = a.n;
    return 0;
}
