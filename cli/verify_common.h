/* Steps shared by `verify` and `license`: finding and checking a model's signature, and
 * checking for a recorded license acceptance. */
#ifndef FERRY_CLI_VERIFY_COMMON_H
#define FERRY_CLI_VERIFY_COMMON_H

#include <jansson.h>
#include <stddef.h>
#include "ferry/error.h"
#include "ferry/manifest.h"

/* Finds the signature of dir (model.sig, or model.manifest.json + .minisig; FILE.sig or
 * FILE.manifest.json[.minisig] for a single file), verifies it with pubkey or the CA files and
 * parses the signed manifest into m. sigfile (may be NULL) names the signature explicitly:
 * a bundle, or a .minisig beside its manifest. Returns 1 when verified, 0 when no signature exists,
 * negative with err filled when verification fails. Adds a "signature" object to doc. */
int verify_signature(const char *dir, int isdir, const char *sigfile, const char *pubkey,
                     const char *const *cas, size_t nca, struct ferry_manifest *m, json_t *doc,
                     struct ferry_error *err);

/* 0 when an acceptance record bound to m's root covers every license text the manifest marks
 * as requiring acceptance and was signed by a trusted key: the user's own acceptance key or
 * one of the minisign public key files in trust (--trust-acceptor). Other records are reported
 * with the reason they do not count. Adds a "license" object to doc (may be NULL). */
int verify_license(const char *dir, const struct ferry_manifest *m, const char *const *trust,
                   size_t ntrust, json_t *doc);

#endif
