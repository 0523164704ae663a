/* Checking a model as `ferry verify` does, as library calls: finding and verifying its
 * signature (OMS bundle or minisign), and whether a license acceptance that counts exists. */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stddef.h>
#include "ferry/error.h"
#include "ferry/license.h"
#include "ferry/manifest.h"

struct ferry_signature_opts {
    const char *sigfile;    /* the signature when not in the usual place, or NULL */
    const char *pubkey;     /* minisign public key (file or base64 line) or PEM public key */
    const char *const *cas; /* trust anchors for certificate bundles */
    size_t ncas;
};

struct ferry_signature_report {
    char method[16];            /* "minisign" or "oms-bundle" */
    char file[4096];            /* the signature checked */
    char key_id[17];            /* minisign key id */
    char trusted_comment[1024]; /* minisign */
    int by_certificate;         /* OMS bundle checked against a certificate chain */
};

/* Finds the signature of path (a directory: model.sig, or model.manifest.json with its
 * .minisig; a single file: FILE.sig or FILE.manifest.json[.minisig]) and verifies it; the
 * signed manifest goes into m. When both kinds are present, the one the given key can verify
 * is checked: a minisign key picks the .minisig, a PEM key or certificate chain the bundle.
 * Returns 1 when verified, 0 when there is no signature, or a FERRY_E* code: FERRY_EUSAGE when
 * no key was given, FERRY_EMISMATCH when the signature does not verify. */
int ferry_verify_signature(const char *path, const struct ferry_signature_opts *o,
                           struct ferry_manifest *m, struct ferry_signature_report *r,
                           struct ferry_error *err);

/* An archive (ferry/archive.h) checked against its signed manifest in one streaming pass,
 * nothing extracted: the signature files are taken from the archive (the shallowest folder
 * holding them is the model's root) or, when it has none, from beside it, and verified as
 * ferry_verify_signature does; then every member's SHA-256 and size are compared with the
 * manifest (r: missing, extra, mismatched). Returns 1 when the signature verified (inspect r),
 * 0 when there is no signature, or a FERRY_E* code. */
int ferry_verify_archive(const char *archive, const struct ferry_signature_opts *o,
                         struct ferry_manifest *m, struct ferry_signature_report *sr,
                         struct ferry_check_report *r, struct ferry_error *err);

/* Signing a model as `ferry sign` does: the manifest of path (a directory or one file) built
 * and hashed, then signed with a minisign secret key (model.manifest.json + .minisig) or an EC
 * PEM key (an OMS bundle, model.sig). The key is read before any hashing, so a wrong password
 * fails at once. */
struct ferry_sign_opts {
    const char *key;      /* minisign .key or EC private key PEM */
    const char *password; /* for an encrypted minisign key, or NULL */
    int force;            /* replace an existing signature */
    struct ferry_walk_opts walk;
};
struct ferry_sign_result {
    char method[16]; /* "minisign" or "oms-bundle" */
    char manifest[4096], signature[4200];
    uint8_t root[32];
    size_t files;
    uint64_t bytes;
};
/* 1 when key is a minisign secret key file (its first line is an untrusted comment). */
int ferry_sign_key_is_minisign(const char *key);
int ferry_sign_model(const char *path, const struct ferry_sign_opts *o, struct ferry_sign_result *r,
                     struct ferry_error *err);

/* The text of a license or use-policy resource, read from dir and checked against the
 * manifest's SHA-256 (a changed text is refused, FERRY_EMISMATCH). *text is NUL-terminated;
 * the caller frees it. */
int ferry_license_text_read(const char *dir, const struct ferry_resource *res, char **text,
                            size_t *len, struct ferry_error *err);

/* Overwrites secrets (passwords, keys) in a way the compiler keeps. */
void ferry_wipe(void *p, size_t n);

/* Where acceptance records live and whose records count. NULL dirs follow XDG
 * ($XDG_DATA_HOME or ~/.local/share, $XDG_CONFIG_HOME or ~/.config). */
struct ferry_license_opts {
    const char *data_dir;
    const char *config_dir;
    const char *const *trust; /* minisign public key files of other trusted acceptors */
    size_t ntrust;
};

struct ferry_license_found {
    char path[4096];
    int valid; /* the record's signature verified */
    char why_invalid[768];
    struct ferry_license_acceptance a;
    enum ferry_license_verdict verdict;
};

struct ferry_license_report {
    int required;                         /* the manifest marks a text as needing acceptance */
    const struct ferry_resource *license; /* the manifest's LICENSE, or NULL */
    int accepted;                         /* a record counts */
    struct ferry_license_found *found;    /* every record seen, the store's records for
                                             other models excepted */
    size_t nfound;
};

/* Looks through the per-user record store and path/license-acceptance.dsse.json for a record
 * that counts for m (see ferry_license_record_counts). Returns 0 with the report filled
 * (whether accepted or not), or a FERRY_E* code when the trusted keys cannot be read. */
int ferry_license_status(const char *path, const struct ferry_manifest *m,
                         const struct ferry_license_opts *o, struct ferry_license_report *r,
                         struct ferry_error *err);
void ferry_license_report_free(struct ferry_license_report *r);

/* Records an acceptance of m's license (and its use policies) by who with the user's
 * acceptance key (made on first use): into the store and, with store_in_model, as
 * path/license-acceptance.dsse.json. method says how it was given ("flag:--accept-license",
 * "interactive-typed-confirmation"). */
struct ferry_license_recorded {
    char path[4096]; /* the record in the store */
    char key_id[17]; /* the acceptance key that signed it */
};
/* 0 with out filled (out may be NULL), or a FERRY_E* code: the manifest names no LICENSE or a
 * text differs from its digest (FERRY_EMISMATCH), the key or the record cannot be written
 * (FERRY_ECANTCREAT, FERRY_EIO). */
int ferry_license_accept(const char *path, const struct ferry_manifest *m,
                         const struct ferry_acceptor *who, const char *method, int store_in_model,
                         const struct ferry_license_opts *o, struct ferry_license_recorded *out,
                         struct ferry_error *err);

#endif
