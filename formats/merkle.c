/* BEP 52 merkle trees over SHA-256 (see ferry/hash.h). */
#include "ferry/hash.h"

#include <openssl/sha.h>
#include <string.h>

void ferry_merkle_pair(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(buf, a, 32);
    memcpy(buf + 32, b, 32);
    SHA256(buf, 64, out);
}

void ferry_merkle_fold(uint8_t *hashes, uint64_t n, uint64_t width, const uint8_t *pad_in,
                       uint8_t out[32])
{
    uint8_t pad[32] = {0};
    if (pad_in) memcpy(pad, pad_in, 32);
    while (width > 1) {
        for (uint64_t i = 0; 2 * i < n; i++)
            ferry_merkle_pair(hashes + 64 * i, 2 * i + 1 < n ? hashes + 64 * i + 32 : pad,
                              hashes + 32 * i);
        n = (n + 1) / 2;
        ferry_merkle_pair(pad, pad, pad); /* the padding subtree one level up */
        width /= 2;
    }
    memcpy(out, n ? hashes : pad, 32);
}

void ferry_merkle_zero(uint64_t leaves, uint8_t out[32])
{
    memset(out, 0, 32);
    for (; leaves > 1; leaves /= 2) ferry_merkle_pair(out, out, out);
}

uint64_t ferry_pow2_at_least(uint64_t x)
{
    uint64_t p = 1;
    while (p < x) p <<= 1;
    return p;
}
