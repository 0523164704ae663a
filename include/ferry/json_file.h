/* JSON files read by libferry (config.json, indexes, tokenizer.json, records): opened only when
 * regular files, so a FIFO named by a hostile directory cannot block the reader. */
#ifndef FERRY_JSON_FILE_H
#define FERRY_JSON_FILE_H

#include <jansson.h>
#include "ferry/error.h"

/* Parses path with jansson flags; 0 with *out set, or a FERRY_E* code with err filled
 * (65 "not valid JSON: ..." with the byte offset, 65 not a regular file, 66 missing). */
int ferry_json_load(const char *path, size_t flags, json_t **out, struct ferry_error *err);
/* Writes doc (its reference is taken) as 2-space-indented JSON with a final newline, durably;
 * refuses to replace path unless force. */
int ferry_json_save(const char *path, json_t *doc, int force, struct ferry_error *err);

#endif
