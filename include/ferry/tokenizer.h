/* Tokenizers for the forward pass: sentencepiece BPE (Llama 1/2: score-ordered merges over
 * UTF-8 characters, "▁" for spaces, a dummy prefix, <0xXX> byte fallback) from a GGUF
 * vocabulary, tokenizer.model or llama2.c tokenizer.bin. */
#ifndef FERRY_TOKENIZER_H
#define FERRY_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"
#include "ferry/vocab.h"

struct ferry_tokenizer;

/* Builds a tokenizer over v (which must outlive it). */
int ferry_tokenizer_new(const struct ferry_vocab *v, struct ferry_tokenizer **out,
                        struct ferry_error *err);
/* Loads a vocabulary from a GGUF file, tokenizer.model, tokenizer.json, tokenizer.bin or a model
 * directory, and a tokenizer over it (both freed by ferry_tokenizer_free). */
int ferry_tokenizer_load(const char *path, struct ferry_tokenizer **out, struct ferry_error *err);
void ferry_tokenizer_free(struct ferry_tokenizer *t);

/* Token ids of text (BOS first when add_bos); *ids is malloc'ed. */
int ferry_tokenize(const struct ferry_tokenizer *t, const char *text, size_t len, int add_bos,
                   int32_t **ids, size_t *n, struct ferry_error *err);
/* As ferry_tokenize; with parse_special, the texts of control, user-defined and unknown tokens
 * (e.g. "<|eot_id|>", "<s>") found in text become those tokens, longest match first, as
 * llama.cpp's tools do by default. */
int ferry_tokenize_ex(const struct ferry_tokenizer *t, const char *text, size_t len, int add_bos,
                      int parse_special, int32_t **ids, size_t *n, struct ferry_error *err);
/* Bytes of token id as text (prev: the token before it, for the leading space rule). */
size_t ferry_token_text(const struct ferry_tokenizer *t, int32_t prev, int32_t id, char *buf,
                        size_t n);
int32_t ferry_tokenizer_bos(const struct ferry_tokenizer *t);

/* The prompt of one chat turn in the model's format, built by code (a chat template is never
 * evaluated): Llama 3 instruct when the vocabulary has <|start_header_id|> (BOS, a header and
 * <|eot_id|> around the system and user turns, the assistant's header left open), else Llama 2
 * chat ([INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST] after BOS). system may be NULL.
 * *ids (caller frees) holds *n ids; 0 or a FERRY_E* code, never a truncated prompt. */
int ferry_chat_prompt(const struct ferry_tokenizer *t, const char *system, const char *user,
                      int32_t **ids, size_t *n, struct ferry_error *err);
/* Id of a token given by its text (e.g. "<|eot_id|>"), -1 when absent. */
int32_t ferry_token_id(const struct ferry_tokenizer *t, const char *text);
int32_t ferry_tokenizer_eos(const struct ferry_tokenizer *t);

#endif
