/* safetensors: read with the reference loader's validation, write, sharded indexes. */
#ifndef FERRY_SAFETENSORS_H
#define FERRY_SAFETENSORS_H

#include "ferry/ckpt.h"

#define FERRY_ST_MAX_HEADER 100000000ull

/* Reads one .safetensors file into ck (tensors appended in data order; __metadata__
 * entries become string kvs). */
int ferry_safetensors_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

/* Reads model.safetensors.index.json and every shard it names (in the same folder). */
int ferry_safetensors_read_index(struct ferry_ckpt *ck, const char *index_path,
                                 struct ferry_error *err);

/* Writes desc's tensors (sorted by dtype width then name, as the reference writer does)
 * with desc's string kvs as __metadata__. src NULL: desc's own data. */
int ferry_safetensors_write(const struct ferry_ckpt *desc, const char *path, int force,
                            ferry_tensor_source src, void *ctx, struct ferry_error *err);

#endif
