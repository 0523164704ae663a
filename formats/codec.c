/* Hex and base64 (see ferry/codec.h); base64 through libsodium's constant-time codec. */
#include "ferry/codec.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int ferry_unhex(const char *s, uint8_t *out, size_t n, int lower_only)
{
    if (!s || strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'                  ? c - '0'
                : c >= 'a' && c <= 'f'                ? c - 'a' + 10
                : !lower_only && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
        if (d < 0) return -1;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] << 4 | d : d);
    }
    return 0;
}

void ferry_hex(const uint8_t *p, size_t n, char *hex)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = d[p[i] >> 4];
        hex[2 * i + 1] = d[p[i] & 15];
    }
    hex[2 * n] = 0;
}

char *ferry_base64_encode(const uint8_t *p, size_t n)
{
    size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(len);
    if (s) sodium_bin2base64(s, len, p, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

uint8_t *ferry_base64_decode(const char *s, size_t *out_len, int any_variant)
{
    if (!s) return NULL;
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_URLSAFE,
                                   sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    size_t n = strlen(s), got;
    const char *end;
    uint8_t *p = malloc(n + 1);
    for (size_t v = 0; p && v < (any_variant ? 4u : 1u); v++)
        if (sodium_base642bin(p, n + 1, s, n, any_variant ? "\n" : NULL, &got, &end, variants[v]) ==
                0 &&
            end == s + n) {
            *out_len = got;
            return p;
        }
    free(p);
    return NULL;
}
