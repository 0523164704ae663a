/* SHA-256 of files and tensors (OpenSSL EVP), spread over threads. */
#ifndef FERRY_HASH_H
#define FERRY_HASH_H

#include <stdint.h>
#include "ferry/ckpt.h"

/* SHA-256 of each tensor's data as a contiguous little-endian array; out[i] for tensor i.
 * Tensors are shared among `threads` workers (0 = all cores). */
int ferry_hash_tensors(const struct ferry_ckpt *ck, unsigned threads, uint8_t (*out)[32],
                       struct ferry_error *err);

/* Lowercase hex of n bytes into hex (2n+1 bytes). */
void ferry_hex(const uint8_t *p, size_t n, char *hex);
/* n bytes from exactly 2n hex digits (s may be NULL); lower_only refuses A-F. 0 or -1. */
int ferry_unhex(const char *s, uint8_t *out, size_t n, int lower_only);

unsigned ferry_cpu_count(void);

/* BEP 52 pieces root of the size bytes an open descriptor holds (merkle tasks over 4 MiB
 * segments on all cores). *has_root is 0 for an empty file, which has no root. */
int ferry_btv2_root_fd(int fd, uint64_t size, const char *name, uint8_t root[32], int *has_root,
                       struct ferry_error *err);

#endif
