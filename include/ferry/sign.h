/* Signatures over manifests: minisign (Ed25519, libsodium) and OpenSSF Model Signing bundles
 * (DSSE envelope, ECDSA P-256/P-384/P-521, OpenSSL). Key and signature files are byte-compatible
 * with the minisign program and the model_signing reference implementation. */
#ifndef FERRY_SIGN_H
#define FERRY_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

/* ---- minisign ---- */
struct ferry_minisign_pub {
    uint8_t keynum[8];
    uint8_t pk[32];
};

struct ferry_minisign_key {
    uint8_t keynum[8];
    uint8_t sk[64];
};

/* Writes NAME.pub and NAME.key; password NULL or "" writes an unencrypted key (minisign -W).
 * Refuses to overwrite unless force. key_id_out gets the 16-digit hex key id. */
int ferry_minisign_keygen(const char *name, const char *password, int force, char key_id_out[17],
                          struct ferry_error *err);
int ferry_minisign_load_pub(const char *path, struct ferry_minisign_pub *pub,
                            struct ferry_error *err);
/* Parses a public key given as the base64 line itself (minisign -P). */
int ferry_minisign_parse_pub(const char *b64, struct ferry_minisign_pub *pub,
                             struct ferry_error *err);
/* 1 if the key file is encrypted (needs a password). */
int ferry_minisign_key_encrypted(const char *path, struct ferry_error *err);
int ferry_minisign_load_key(const char *path, const char *password, struct ferry_minisign_key *key,
                            struct ferry_error *err);
/* Signs file_path into sig_path (prehashed "ED"); trusted comment defaults to
 * "timestamp:<unix>\tfile:<basename>\thashed". */
int ferry_minisign_sign_file(const struct ferry_minisign_key *key, const char *file_path,
                             const char *sig_path, const char *trusted_comment, int force,
                             struct ferry_error *err);
/* Verifies sig_path over file_path; fills the trusted comment (may be NULL). Returns
 * FERRY_EMISMATCH for a bad signature or key id. */
int ferry_minisign_verify_file(const struct ferry_minisign_pub *pub, const char *file_path,
                               const char *sig_path, char *trusted, size_t trusted_len,
                               struct ferry_error *err);
/* The same over bytes already in memory (so what is verified is what is then parsed). */
int ferry_minisign_verify_buf(const struct ferry_minisign_pub *pub, const uint8_t *data, size_t len,
                              const char *what, const char *sig_path, char *trusted,
                              size_t trusted_len, struct ferry_error *err);
void ferry_minisign_key_id(const uint8_t keynum[8], char out[17]);

/* ---- DSSE ---- */
/* PAE(type, body) = "DSSEv1 LEN(type) type LEN(body) body"; caller frees. */
uint8_t *ferry_dsse_pae(const char *type, const uint8_t *body, size_t len, size_t *out_len);

/* ---- EC keys and OMS bundles ---- */
/* curve: "P-256", "P-384" or "P-521". Writes NAME.pem (PKCS#8) and NAME.pub.pem. */
int ferry_ec_keygen(const char *name, const char *curve, int force, struct ferry_error *err);

/* Signs the statement (JSON bytes) with the EC private key in key_pem_path and writes the
 * Sigstore bundle v0.3 (DSSE, publicKey.hint) to out_path. */
int ferry_oms_sign(const char *key_pem_path, const uint8_t *statement, size_t len,
                   const char *out_path, int force, struct ferry_error *err);

/* Verifies a bundle: with pubkey_path (key method: hint or rawBytes must name that key) or with
 * trust anchors ca_paths (certificate method: chain validated, leaf in validity, code signing).
 * On success *payload (caller frees) holds the verified statement bytes. */
int ferry_oms_verify(const char *bundle_path, const char *pubkey_path, const char *const *ca_paths,
                     size_t nca, uint8_t **payload, size_t *payload_len, struct ferry_error *err);

/* Hex SHA-256 of the PEM SubjectPublicKeyInfo text of a public key file (the OMS key hint). */
int ferry_oms_key_hint(const char *pubkey_path, char hint[65], struct ferry_error *err);

#endif
