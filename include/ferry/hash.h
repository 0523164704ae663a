/* SHA-256 of files and tensors (OpenSSL EVP), spread over threads. */
#ifndef FERRY_HASH_H
#define FERRY_HASH_H

#include <stdint.h>
#include "ferry/ckpt.h"
#include "ferry/codec.h" /* ferry_hex, ferry_unhex */

/* SHA-256 of each tensor's data as a contiguous little-endian array; out[i] for tensor i.
 * Tensors are shared among `threads` workers (0 = all cores). */
int ferry_hash_tensors(const struct ferry_ckpt *ck, unsigned threads, uint8_t (*out)[32],
                       struct ferry_error *err);

unsigned ferry_cpu_count(void);

/* BEP 52 pieces root of the size bytes an open descriptor holds (merkle tasks over 4 MiB
 * segments on all cores). *has_root is 0 for an empty file, which has no root. */
int ferry_btv2_root_fd(int fd, uint64_t size, const char *name, uint8_t root[32], int *has_root,
                       struct ferry_error *err);

/* ferry.source.digest (SPEC section 7): the OpenSSF Model Signing manifest root of a model
 * file or folder, the SHA-256 over its files' digests in the manifest's order.
 * recorded: from the model.manifest.json the source carries (parsed, its root recomputed from
 * the listed digests; the signature is not checked here): 1 when there is one.
 * possible: 1 when the source can be hashed as a manifest would (regular files, no links).
 * ferry_source_digest: hashes it on `threads` threads (0 = all cores). */
int ferry_source_digest_recorded(const char *src, uint8_t root[32]);
int ferry_source_digest_possible(const char *src);
int ferry_source_digest(const char *src, unsigned threads, uint8_t root[32],
                        struct ferry_error *err);

/* The same root with OMS's "shards" serialization: every file of size > 0 cut into shards of
 * shard_size bytes (the last one shorter), each a resource "PATH:START:END" with the SHA-256
 * of its bytes, ordered by path (the manifest's order) then start, and the root the SHA-256
 * over the shard digests in that order. The shards are hashed on `threads` threads (0 = all
 * cores), so one large file is hashed on every core; model_signing computes the same root
 * with serialization method "shards" and that shard size. */
#define FERRY_SOURCE_SHARD_SIZE (64ull << 20)
int ferry_source_digest_shards(const char *src, unsigned threads, uint64_t shard_size,
                               uint8_t root[32], struct ferry_error *err);

/* BEP 52 merkle trees (SHA-256 of 64-byte pairs). fold: the root of n hashes padded to width
 * (a power of two) with pad, the root of an all-zero subtree of their height (NULL: zero
 * bytes, for leaves); hashes is overwritten. zero: the root of an all-zero-leaf subtree of
 * `leaves` leaves (a power of two), the pad of a piece layer. */
void ferry_merkle_pair(const uint8_t a[32], const uint8_t b[32], uint8_t out[32]);
void ferry_merkle_fold(uint8_t *hashes, uint64_t n, uint64_t width, const uint8_t *pad,
                       uint8_t out[32]);
void ferry_merkle_zero(uint64_t leaves, uint8_t out[32]);
uint64_t ferry_pow2_at_least(uint64_t x);

#endif
