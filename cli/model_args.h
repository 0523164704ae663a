/* Options shared by the commands that run a model (run, logits, check, perplexity): loading it
 * and turning -p/--ids into token ids. */
#ifndef FERRY_CLI_MODEL_ARGS_H
#define FERRY_CLI_MODEL_ARGS_H

#include <stdint.h>
#include "ferry/model.h"

/* Parses "1,2,3" (or spaces); returns the count, -1 when malformed. *ids is malloc'ed. */
int parse_ids(const char *s, int32_t **ids);
/* A text file as a C string (*text malloc'ed), printing errors; returns the exit code. */
int read_text(const char *path, char **text);
/* Loads a model, printing errors; returns the exit code (0 ok). */
int load_model(const char *path, uint32_t ctx, unsigned threads, struct ferry_model **m);
/* Token ids for a prompt with the model's tokenizer (BOS first unless no_bos). */
int tokenize_prompt(const struct ferry_model *m, const char *text, int no_bos, int parse_special,
                    int32_t **ids, int *n);

#endif
