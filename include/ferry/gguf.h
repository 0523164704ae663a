/* GGUF (llama.cpp's format): read v2 and v3, write v3; split sets. */
#ifndef FERRY_GGUF_H
#define FERRY_GGUF_H

#include "ferry/ckpt.h"

#define FERRY_GGUF_DEFAULT_ALIGNMENT 32u
#define FERRY_GGUF_MAX_STRING        (64ull << 20)
#define FERRY_GGUF_MAX_ARRAY         (64ull << 20)
#define FERRY_GGUF_MAX_ALIGNMENT     (1u << 20)
#define FERRY_GGUF_MAX_NAME          63u /* ggml's GGML_MAX_NAME is 64 including the NUL */
#define FERRY_GGUF_MAX_DIMS          4u

/* Reads PATH into ck with every check of ggml's gguf.cpp. When PATH is the first shard
 * of a split set (split.count > 1), the other shards named NAME-0000k-of-0000n.gguf are
 * read too and their tensors appended. */
int ferry_gguf_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

/* Writes desc (kvs in order, tensor infos in order) as GGUF v3 to path (temp + rename).
 * Alignment comes from desc's general.alignment (uint32) or 32. Tensor bytes come from
 * src, or from desc's own mapped data when src is NULL. */
int ferry_gguf_write(const struct ferry_ckpt *desc, const char *path, int force,
                     ferry_tensor_source src, void *ctx, struct ferry_error *err);

/* The same with a hook run after all data is written and before the file is committed (to
 * patch values computed meanwhile, see ferry_gguf_kv_value_offset). */
int ferry_gguf_write_hooked(const struct ferry_ckpt *desc, const char *path, int force,
                            ferry_tensor_source src, void *ctx,
                            int (*before_commit)(void *ctx, struct ferry_out *out,
                                                 struct ferry_error *err),
                            struct ferry_error *err);

/* Reads one GGUF file without following its split keys. */
int ferry_gguf_read_one(struct ferry_ckpt *ck, const char *path, struct ferry_error *err);

/* Writes desc as llama.cpp's split set NAME-0000k-of-0000n.gguf (path "NAME.gguf") with shards
 * under max_bytes, or as path itself when one shard suffices. resume keeps shards already on disk
 * with the right layout. first_hook runs before the first shard is committed. */
int ferry_gguf_write_split(const struct ferry_ckpt *desc, const char *path, uint64_t max_bytes,
                           int force, int resume, ferry_tensor_source src, void *ctx,
                           int (*first_hook)(void *hook_ctx, struct ferry_out *out,
                                             struct ferry_error *err),
                           void *hook_ctx, uint32_t *nshards, struct ferry_error *err);

/* File offset at which kv `index`'s value payload starts when desc is written (for a string,
 * its first byte after the length). */
uint64_t ferry_gguf_kv_value_offset(const struct ferry_ckpt *desc, uint64_t index);

#endif
