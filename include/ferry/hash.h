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

unsigned ferry_cpu_count(void);

#endif
