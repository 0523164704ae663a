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

#endif
