/* Auditable license acceptance: an in-toto statement (predicateType
 * urn:ferry:license-acceptance:v1) whose subject is the model's manifest root digest, naming
 * the exact license and policy texts by SHA-256 and who accepted them, in a DSSE envelope
 * signed with the acceptor's Ed25519 key. */
#ifndef FERRY_LICENSE_H
#define FERRY_LICENSE_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"
#include "ferry/manifest.h"
#include "ferry/sign.h"

#define FERRY_LICENSE_PREDICATE "urn:ferry:license-acceptance:v1"

struct ferry_acceptor {
    const char *name, *email, *on_behalf_of, *os_user, *host;
};

struct ferry_license_text {
    const struct ferry_resource *res; /* role license or use-policy */
};

/* The record (DSSE envelope JSON text, caller frees) accepting license (and policies) of m. */
char *ferry_license_record(const struct ferry_manifest *m, const struct ferry_resource *license,
                           const struct ferry_resource *const *policies, size_t npolicies,
                           const struct ferry_acceptor *who, const char *method,
                           const char *accepted_at, const struct ferry_minisign_key *key,
                           const struct ferry_minisign_pub *pub, struct ferry_error *err);

/* Parsed, signature-checked record. */
struct ferry_license_acceptance {
    char license_sha256[65];
    char license_path[512];
    char policy_sha256[8][65];
    size_t npolicies;
    char subject_root[65];
    char acceptor_name[256], acceptor_email[256], on_behalf_of[256];
    char accepted_at[64], key_id[17], method[64];
    struct ferry_minisign_pub signer; /* the key the record carries and was signed with */
};

/* Verifies a record's Ed25519 signature (against the public key it carries) and parses it.
 * A valid signature says only that the record is intact: anyone can make one. Whether it
 * counts is ferry_license_record_counts' question. */
int ferry_license_verify_record(const char *path, struct ferry_license_acceptance *a,
                                struct ferry_error *err);

/* Why a signature-checked record does or does not vouch for a model. */
enum ferry_license_verdict {
    FERRY_LICENSE_COUNTS = 0,
    FERRY_LICENSE_OTHER_MODEL,    /* subject is another manifest root */
    FERRY_LICENSE_OTHER_TEXT,     /* accepts another license text */
    FERRY_LICENSE_POLICY_MISSING, /* a use policy needing acceptance is not named */
    FERRY_LICENSE_UNTRUSTED_KEY,  /* signed by a key the user did not name as trusted */
};

/* The record counts for m only when its subject is m's root, it names m's license text and
 * every use policy m marks as requiring acceptance, and its signer is one of the trusted keys
 * (the user's own acceptance key, keys given with --trust-acceptor). license is m's LICENSE
 * resource. */
enum ferry_license_verdict ferry_license_record_counts(const struct ferry_license_acceptance *a,
                                                       const struct ferry_manifest *m,
                                                       const struct ferry_resource *license,
                                                       const struct ferry_minisign_pub *trusted,
                                                       size_t ntrusted);
/* A sentence for a verdict ("made for another model (manifest root ...)"). */
const char *ferry_license_verdict_text(enum ferry_license_verdict v);

/* Loads the user's acceptance public key from config_dir/ferry/acceptance.pub without creating
 * one; 1 (no error) when there is none yet. */
int ferry_license_user_pub(const char *config_dir, struct ferry_minisign_pub *pub,
                           struct ferry_error *err);

/* Loads (or creates on first use, unencrypted, mode 0600) the user's acceptance key under
 * config_dir/ferry/acceptance.key(.pub). */
int ferry_license_user_key(const char *config_dir, struct ferry_minisign_key *key,
                           struct ferry_minisign_pub *pub, struct ferry_error *err);

#endif
