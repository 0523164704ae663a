/* Sharded checkpoints' index files (see shard_index.c). */
#ifndef FERRY_FORMATS_SHARD_INDEX_H
#define FERRY_FORMATS_SHARD_INDEX_H

#include "ferry/ckpt.h"

typedef int (*shard_reader)(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

/* Reads every shard the index's weight_map names into ck with read_shard, then checks that each
 * tensor lies in the shard the map names and each mapped tensor exists. A missing shard is 65:
 * the model the index describes is incomplete. */
int shard_index_read(struct ferry_ckpt *ck, const char *index_path, shard_reader read_shard,
                     struct ferry_error *err);

#endif
