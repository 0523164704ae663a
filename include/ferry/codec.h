/* Hex and base64, the text forms of digests, keys and signatures (one implementation each). */
#ifndef FERRY_CODEC_H
#define FERRY_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Lowercase hex of n bytes into hex (2n+1 bytes). */
void ferry_hex(const uint8_t *p, size_t n, char *hex);
/* n bytes from exactly 2n hex digits (s may be NULL); lower_only refuses A-F. 0 or -1. */
int ferry_unhex(const char *s, uint8_t *out, size_t n, int lower_only);

/* Standard padded base64 of n bytes; a NUL-terminated string the caller frees, NULL when out of
 * memory. */
char *ferry_base64_encode(const uint8_t *p, size_t n);
/* The bytes of s (NULL gives NULL), which must be wholly base64: standard and padded, or with
 * any_variant also URL-safe and/or unpadded (DSSE allows either), newlines ignored then. The
 * caller frees; *out_len gets the length. NULL when s is not base64 or out of memory. */
uint8_t *ferry_base64_decode(const char *s, size_t *out_len, int any_variant);

#endif
