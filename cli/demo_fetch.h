/* The fetch step of `ferry demo`: Debian's nginx serves the demo folder on a loopback port and
 * `ferry fetch --manifest` brings the signed model back (signature first, license gate, hashes). */
#ifndef FERRY_CLI_DEMO_FETCH_H
#define FERRY_CLI_DEMO_FETCH_H

#include <stddef.h>

/* 0 when the model was fetched and verified, 1 when a step failed, -1 when nginx is missing. */
/* The fetched copy goes to out (n bytes); verifying it is the caller's step. */
int demo_fetch(const char *dir, const char *model_name, const char *pub, const char *license_sha256,
               char *out, size_t n);

#endif
