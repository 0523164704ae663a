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
};

/* Verifies a record's Ed25519 signature (against the public key it carries) and parses it. */
int ferry_license_verify_record(const char *path, struct ferry_license_acceptance *a,
                                struct ferry_error *err);

/* Loads (or creates on first use, unencrypted, mode 0600) the user's acceptance key under
 * config_dir/ferry/acceptance.key(.pub). */
int ferry_license_user_key(const char *config_dir, struct ferry_minisign_key *key,
                           struct ferry_minisign_pub *pub, struct ferry_error *err);

#endif
