/* License acceptance records (see ferry/license.h). The envelope carries the acceptor's
 * minisign-format public key so anyone can check the signature; the key id ties it to the
 * acceptor's key files. */
#define _GNU_SOURCE
#include "ferry/license.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/json_file.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

static json_t *text_obj(const struct ferry_resource *r)
{
    char hex[65];
    ferry_hex(r->sha256, 32, hex);
    json_t *o =
        json_pack("{s:s, s:s, s:I}", "path", r->name, "sha256", hex, "size", (json_int_t)r->size);
    if (r->license_id) json_object_set_new(o, "id", json_string(r->license_id));
    return o;
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

char *ferry_license_record(const struct ferry_manifest *m, const struct ferry_resource *license,
                           const struct ferry_resource *const *policies, size_t npolicies,
                           const struct ferry_acceptor *who, const char *method,
                           const char *accepted_at, const struct ferry_minisign_key *key,
                           const struct ferry_minisign_pub *pub, struct ferry_error *err)
{
    char root[65], kid[17];
    ferry_hex(m->root, 32, root);
    ferry_minisign_key_id(pub->keynum, kid);
    json_t *pol = json_array();
    for (size_t i = 0; i < npolicies; i++) json_array_append_new(pol, text_obj(policies[i]));
    json_t *acceptor = json_object();
    json_object_set_new(acceptor, "name", str_or_null(who->name));
    json_object_set_new(acceptor, "email", str_or_null(who->email));
    json_object_set_new(acceptor, "on_behalf_of", str_or_null(who->on_behalf_of));
    json_object_set_new(acceptor, "os_user", str_or_null(who->os_user));
    json_object_set_new(acceptor, "host", str_or_null(who->host));
    json_object_set_new(acceptor, "key_id", json_string(kid));
    json_t *st = json_pack(
        "{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:o, s:o, s:o, s:s, s:s, s:{s:s, s:s}}}", "_type",
        FERRY_INTOTO_STATEMENT, "subject", "name", m->subject_name ? m->subject_name : "model",
        "digest", "sha256", root, "predicateType", FERRY_LICENSE_PREDICATE, "predicate", "license",
        text_obj(license), "policies", pol, "acceptor", acceptor, "method", method, "accepted_at",
        accepted_at, "tool", "name", "ferry", "version", FERRY_VERSION);
    char *payload = st ? json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(st);
    if (!payload) {
        ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
        return NULL;
    }
    size_t pae_len;
    uint8_t *pae =
        ferry_dsse_pae(FERRY_INTOTO_PAYLOAD, (const uint8_t *)payload, strlen(payload), &pae_len);
    uint8_t sig[64], pkb[42];
    if (pae) crypto_sign_detached(sig, NULL, pae, pae_len, key->sk);
    free(pae);
    memcpy(pkb, "Ed", 2);
    memcpy(pkb + 2, pub->keynum, 8);
    memcpy(pkb + 10, pub->pk, 32);
    char *p64 = ferry_base64_encode((const uint8_t *)payload, strlen(payload)),
         *s64 = ferry_base64_encode(sig, 64), *k64 = ferry_base64_encode(pkb, 42);
    json_t *env = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "payload", p64, "payloadType",
                            FERRY_INTOTO_PAYLOAD, "signatures", "keyid", kid, "sig", s64,
                            "ferry.public_key", k64);
    char *out = env ? json_dumps(env, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(env);
    free(payload);
    free(p64);
    free(s64);
    free(k64);
    if (!out) ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    return out;
}

static void copy(char *dst, size_t n, json_t *v)
{
    snprintf(dst, n, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int ferry_license_verify_record(const char *path, struct ferry_license_acceptance *a,
                                struct ferry_error *err)
{
    memset(a, 0, sizeof(*a));
    if (sodium_init() < 0)
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "sodium");
    json_error_t je;
    json_t *env = NULL, *st = NULL;
    int lrc = ferry_json_load(path, JSON_REJECT_DUPLICATES, &env, err);
    uint8_t *pay = NULL, *sig = NULL, *pk = NULL, *pae = NULL;
    size_t pl = 0, sl = 0, kl = 0, pae_len = 0;
    int rc = 0;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        rc = ferry_error_set(err, FERRY_EMISMATCH, path, FERRY_NO_OFFSET, NULL, __VA_ARGS__);      \
        goto out;                                                                                  \
    } while (0)
    if (lrc) {
        rc = lrc == FERRY_EMALFORMED ? FERRY_EMISMATCH : lrc;
        if (err) err->code = rc;
        goto out;
    }
    json_t *sigs = json_object_get(env, "signatures");
    const char *pt = json_string_value(json_object_get(env, "payloadType"));
    if (!pt || strcmp(pt, FERRY_INTOTO_PAYLOAD) || !json_is_array(sigs) ||
        json_array_size(sigs) != 1)
        BAD("not a DSSE envelope with one in-toto signature");
    json_t *s0 = json_array_get(sigs, 0);
    pay = ferry_base64_decode(json_string_value(json_object_get(env, "payload")), &pl, 0);
    sig = ferry_base64_decode(json_string_value(json_object_get(s0, "sig")), &sl, 0);
    pk = ferry_base64_decode(json_string_value(json_object_get(s0, "ferry.public_key")), &kl, 0);
    if (!pay || !sig || sl != 64 || !pk || kl != 42 || memcmp(pk, "Ed", 2))
        BAD("payload, signature or public key is malformed");
    pae = ferry_dsse_pae(FERRY_INTOTO_PAYLOAD, pay, pl, &pae_len);
    if (!pae || crypto_sign_verify_detached(sig, pae, pae_len, pk + 10) != 0)
        BAD("signature does not verify: the record was changed after signing");
    ferry_minisign_key_id(pk + 2, a->key_id);
    memcpy(a->signer.keynum, pk + 2, 8);
    memcpy(a->signer.pk, pk + 10, 32);
    const char *kid = json_string_value(json_object_get(s0, "keyid"));
    if (!kid || strcmp(kid, a->key_id)) BAD("keyid does not match the signing key");
    st = json_loadb((const char *)pay, pl, JSON_REJECT_DUPLICATES, &je);
    const char *type = json_string_value(json_object_get(st, "predicateType"));
    if (!st || !type || strcmp(type, FERRY_LICENSE_PREDICATE))
        BAD("not a license acceptance statement");
    json_t *pred = json_object_get(st, "predicate"), *lic = json_object_get(pred, "license");
    copy(a->license_sha256, sizeof(a->license_sha256), json_object_get(lic, "sha256"));
    copy(a->license_path, sizeof(a->license_path), json_object_get(lic, "path"));
    json_t *pols = json_object_get(pred, "policies"), *acc = json_object_get(pred, "acceptor");
    for (size_t i = 0; json_is_array(pols) && i < json_array_size(pols) && i < 8; i++)
        copy(a->policy_sha256[a->npolicies++], 65,
             json_object_get(json_array_get(pols, i), "sha256"));
    copy(a->subject_root, sizeof(a->subject_root),
         json_object_get(
             json_object_get(json_array_get(json_object_get(st, "subject"), 0), "digest"),
             "sha256"));
    copy(a->acceptor_name, sizeof(a->acceptor_name), json_object_get(acc, "name"));
    copy(a->acceptor_email, sizeof(a->acceptor_email), json_object_get(acc, "email"));
    copy(a->on_behalf_of, sizeof(a->on_behalf_of), json_object_get(acc, "on_behalf_of"));
    copy(a->accepted_at, sizeof(a->accepted_at), json_object_get(pred, "accepted_at"));
    copy(a->method, sizeof(a->method), json_object_get(pred, "method"));
    if (strlen(a->license_sha256) != 64) BAD("record names no license hash");
#undef BAD
out:
    json_decref(env);
    json_decref(st);
    free(pay);
    free(sig);
    free(pk);
    free(pae);
    return rc;
}

int ferry_license_user_key(const char *config_dir, struct ferry_minisign_key *key,
                           struct ferry_minisign_pub *pub, struct ferry_error *err)
{
    char dir[4096], name[4200], path[4300];
    snprintf(dir, sizeof(dir), "%s/ferry", config_dir);
    snprintf(name, sizeof(name), "%s/acceptance", dir);
    snprintf(path, sizeof(path), "%s.key", name);
    if (access(path, F_OK) != 0) {
        if (mkdir(config_dir, 0700) != 0 && errno != EEXIST)
            return ferry_error_set(err, FERRY_ECANTCREAT, config_dir, FERRY_NO_OFFSET, NULL, "%s",
                                   strerror(errno));
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return ferry_error_set(err, FERRY_ECANTCREAT, dir, FERRY_NO_OFFSET, NULL, "%s",
                                   strerror(errno));
        char id[17];
        int rc = ferry_minisign_keygen(name, NULL, 0, id, err);
        if (rc) return rc;
    }
    int rc = ferry_minisign_load_key(path, NULL, key, err);
    snprintf(path, sizeof(path), "%s.pub", name);
    if (!rc) rc = ferry_minisign_load_pub(path, pub, err);
    if (!rc && memcmp(key->keynum, pub->keynum, 8) != 0)
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                             "acceptance key and public key do not belong together");
    return rc;
}

enum ferry_license_verdict ferry_license_record_counts(const struct ferry_license_acceptance *a,
                                                       const struct ferry_manifest *m,
                                                       const struct ferry_resource *license,
                                                       const struct ferry_minisign_pub *trusted,
                                                       size_t ntrusted)
{
    char hex[65];
    ferry_hex(m->root, 32, hex);
    if (strcmp(a->subject_root, hex)) return FERRY_LICENSE_OTHER_MODEL;
    ferry_hex(license->sha256, 32, hex);
    if (strcmp(a->license_sha256, hex)) return FERRY_LICENSE_OTHER_TEXT;
    for (size_t i = 0; i < m->nres; i++) {
        if (strcmp(m->res[i].role, "use-policy") || !m->res[i].requires_acceptance) continue;
        ferry_hex(m->res[i].sha256, 32, hex);
        int named = 0;
        for (size_t k = 0; k < a->npolicies; k++) named |= !strcmp(a->policy_sha256[k], hex);
        if (!named) return FERRY_LICENSE_POLICY_MISSING;
    }
    for (size_t i = 0; i < ntrusted; i++)
        if (!memcmp(&trusted[i], &a->signer, sizeof(a->signer))) return FERRY_LICENSE_COUNTS;
    return FERRY_LICENSE_UNTRUSTED_KEY;
}

const char *ferry_license_verdict_text(enum ferry_license_verdict v)
{
    switch (v) {
    case FERRY_LICENSE_COUNTS: return "valid, by a trusted key";
    case FERRY_LICENSE_OTHER_MODEL:
        return "made for another model (its subject is not this manifest's root)";
    case FERRY_LICENSE_OTHER_TEXT: return "accepts another license text";
    case FERRY_LICENSE_POLICY_MISSING: return "does not name a use policy that requires acceptance";
    case FERRY_LICENSE_UNTRUSTED_KEY:
        return "signed by a key that is neither your acceptance key nor one given with "
               "--trust-acceptor";
    }
    return "?";
}

int ferry_license_user_pub(const char *config_dir, struct ferry_minisign_pub *pub,
                           struct ferry_error *err)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/ferry/acceptance.pub", config_dir);
    if (access(path, F_OK) != 0) return 1;
    return ferry_minisign_load_pub(path, pub, err);
}
