/* Sharded safetensors: model.safetensors.index.json names a shard per tensor. Every shard is
 * read and validated; the index and the shards must agree on every tensor. */
#include "shard_index.h"
#include "ferry/safetensors.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ferry_safetensors_read_index(struct ferry_ckpt *ck, const char *index_path,
                                 struct ferry_error *err)
{
    return shard_index_read(ck, index_path, ferry_safetensors_read, err);
}
