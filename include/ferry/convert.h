/* Conversion between checkpoint containers and model layouts. */
#ifndef FERRY_CONVERT_H
#define FERRY_CONVERT_H

#include "ferry/ckpt.h"

enum ferry_container {
    FERRY_FMT_NONE = 0,
    FERRY_FMT_GGUF,
    FERRY_FMT_SAFETENSORS,
    FERRY_FMT_PYTORCH,
};

/* "gguf", "safetensors", "pytorch" (also "pt"); FERRY_FMT_NONE when unknown. */
enum ferry_container ferry_container_from_name(const char *name);
/* From an output path's extension (.gguf, .safetensors, .pt/.pth/.bin). */
enum ferry_container ferry_container_from_path(const char *path);

/* --raw: every tensor of src written unchanged (names, dtypes, shapes, bytes) into the
 * container `to`, with the source's metadata where the container can hold it and the
 * provenance keys ferry.version, ferry.source.format and ferry.convert.options. */
int ferry_convert_raw(const struct ferry_ckpt *src, const char *dst, enum ferry_container to,
                      int force, struct ferry_error *err);

#endif
