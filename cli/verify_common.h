/* Rendering shared by `verify`, `license` and `fetch --manifest`: the library's signature and
 * license reports as messages and JSON. */
#ifndef FERRY_CLI_VERIFY_COMMON_H
#define FERRY_CLI_VERIFY_COMMON_H

#include <jansson.h>
#include <stddef.h>
#include "ferry/error.h"
#include "ferry/manifest.h"
#include "ferry/verify.h"

/* ferry_verify_signature, with the outcome printed and added to doc (may be NULL) as
 * "signature". Returns 1 verified, 0 no signature, negative with err filled. */
int verify_signature(const char *dir, const char *sigfile, const char *pubkey,
                     const char *const *cas, size_t nca, struct ferry_manifest *m, json_t *doc,
                     struct ferry_error *err);

/* ferry_license_status, every record found printed with who accepted, the key and why it does
 * not count; adds "license" to doc (may be NULL). 0 when acceptance is recorded or not needed. */
int verify_license(const char *dir, const struct ferry_manifest *m,
                   const struct ferry_license_opts *lo, json_t *doc);

/* Prints a verified signature (and adds it to doc when not NULL). */
void render_signature(const struct ferry_signature_report *r, json_t *doc);

#endif
