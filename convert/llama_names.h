/* Name mapping between Hugging Face, Meta and GGUF Llama tensors (llama_names.c). */
#ifndef FERRY_CONVERT_LLAMA_NAMES_H
#define FERRY_CONVERT_LLAMA_NAMES_H

#include <stddef.h>

enum name_style { NAME_HF, NAME_META, NAME_GGUF };

struct llama_name {
    const char *gguf, *hf, *meta;
    int per_layer;
    int order; /* position within a layer, or before/after the layers */
};

/* The table row of a source name, with its layer (-1 for global tensors); NULL if unknown. */
const struct llama_name *llama_name_lookup(const char *name, enum name_style style, int *layer);
void llama_name_format(const struct llama_name *n, enum name_style style, int layer, char *out,
                       size_t len);
/* Tensors converters drop (rotary caches, Meta's rope.freqs, generated rope_freqs). */
int llama_name_skipped(const char *name);

#endif
