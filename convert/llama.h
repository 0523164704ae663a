/* The conversion's own part of the Llama model (the model-reading API is ferry/llama.h). */
#ifndef FERRY_CONVERT_LLAMA_H
#define FERRY_CONVERT_LLAMA_H

#include "ferry/llama.h"

struct ferry_convert_opts;
/* Writes a Hugging Face or Meta directory (llama_export.c). */
int llama_export(struct ferry_llama *m, const char *src, const char *dst,
                 const struct ferry_convert_opts *o, struct ferry_error *err);

#endif
