/* OpenSSF Model Signing bundles: Sigstore bundle v0.3 JSON holding a DSSE envelope whose
 * payload is the in-toto statement, signed with ECDSA (P-256/SHA-256, P-384/SHA-384,
 * P-521/SHA-512, DER signatures). Key method: publicKey.hint = hex SHA-256 of the PEM text of
 * the key (older bundles: rawBytes = the PEM). Certificate method: x509CertificateChain, the
 * leaf validated to the caller's trust anchors. */
#define _GNU_SOURCE
#include "ferry/file.h"
#include "ferry/codec.h"
#include "ferry/hash.h"
#include "ferry/manifest.h"
#include "ferry/sign.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUNDLE_V03 "application/vnd.dev.sigstore.bundle.v0.3+json"

uint8_t *ferry_dsse_pae(const char *type, const uint8_t *body, size_t len, size_t *out_len)
{
    char head[512];
    int h = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(type), type, len);
    if (h < 0 || (size_t)h >= sizeof(head)) return NULL;
    uint8_t *p = malloc((size_t)h + len + 1);
    if (!p) return NULL;
    memcpy(p, head, (size_t)h);
    if (len) memcpy(p + h, body, len);
    *out_len = (size_t)h + len;
    return p;
}

static const EVP_MD *md_for(EVP_PKEY *k, char *curve, size_t n)
{
    size_t len = 0;
    curve[0] = 0;
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, curve, n, &len))
        return NULL;
    if (!strcmp(curve, "prime256v1") || !strcmp(curve, "P-256")) return EVP_sha256();
    if (!strcmp(curve, "secp384r1") || !strcmp(curve, "P-384")) return EVP_sha384();
    if (!strcmp(curve, "secp521r1") || !strcmp(curve, "P-521")) return EVP_sha512();
    return NULL;
}

static int pem_text(EVP_PKEY *k, int private, char **out, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b && (private ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                           : PEM_write_bio_PUBKEY(b, k));
    char *p;
    long n = ok ? BIO_get_mem_data(b, &p) : 0;
    *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (*out) {
        memcpy(*out, p, (size_t)n);
        (*out)[n] = 0;
        *len = (size_t)n;
    }
    BIO_free(b);
    return *out ? 0 : -1;
}

static int write_file(const char *path, const char *text, size_t len, int force, int private,
                      struct ferry_error *err)
{
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, force, err);
    if (rc) return rc;
    if (private) fchmod(fileno(o.fp), 0600);
    if (!(rc = ferry_out_write(&o, text, len, err))) rc = ferry_out_commit(&o, err);
    if (rc) ferry_out_abort(&o);
    return rc;
}

int ferry_ec_keygen(const char *name, const char *curve, int force, struct ferry_error *err)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    if (!k)
        return ferry_error_set(err, FERRY_EUSAGE, name, FERRY_NO_OFFSET, NULL,
                               "cannot make a %s key", curve);
    char *priv = NULL, *pub = NULL, path[4096], path2[4096];
    size_t pl, ul;
    int rc = 0;
    snprintf(path, sizeof(path), "%s.pem", name);
    snprintf(path2, sizeof(path2), "%s.pub.pem", name);
    if (!force && (access(path, F_OK) == 0 || access(path2, F_OK) == 0))
        rc = ferry_error_set(err, FERRY_ECANTCREAT, access(path, F_OK) == 0 ? path : path2,
                             FERRY_NO_OFFSET, NULL, "exists (use --force to overwrite)");
    if (!rc && (pem_text(k, 1, &priv, &pl) || pem_text(k, 0, &pub, &ul)))
        rc = ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL,
                             "PEM encoding failed");
    if (!rc) rc = write_file(path, priv, pl, force, 1, err);
    if (!rc) rc = write_file(path2, pub, ul, force, 0, err);
    if (priv) OPENSSL_cleanse(priv, pl);
    free(priv);
    free(pub);
    EVP_PKEY_free(k);
    return rc;
}

static EVP_PKEY *read_key(const char *path, int private, struct ferry_error *err)
{
    FILE *f = ferry_fopen_regular(path, err);
    if (!f) return NULL;
    EVP_PKEY *k =
        private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!k)
        ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL, "not a PEM %s key",
                        private ? "private" : "public");
    return k;
}

int ferry_oms_key_hint(const char *pubkey_path, char hint[65], struct ferry_error *err)
{
    EVP_PKEY *k = read_key(pubkey_path, 0, err);
    if (!k) return err ? err->code : FERRY_EMALFORMED;
    char *pem;
    size_t len;
    int rc = pem_text(k, 0, &pem, &len);
    EVP_PKEY_free(k);
    if (rc) return ferry_error_set(err, FERRY_EINTERNAL, pubkey_path, FERRY_NO_OFFSET, NULL, "PEM");
    uint8_t h[32];
    SHA256((const uint8_t *)pem, len, h);
    ferry_hex(h, 32, hint);
    free(pem);
    return 0;
}

int ferry_oms_sign(const char *key_pem_path, const uint8_t *statement, size_t len,
                   const char *out_path, int force, struct ferry_error *err)
{
    EVP_PKEY *k = read_key(key_pem_path, 1, err);
    if (!k) return err ? err->code : FERRY_EMALFORMED;
    char curve[64], *pub = NULL, *bundle = NULL, *sig64 = NULL, *pay64 = NULL;
    const EVP_MD *md = md_for(k, curve, sizeof(curve));
    uint8_t *pae = NULL, *sig = NULL;
    size_t pae_len, sig_len = 0, pub_len;
    EVP_MD_CTX *ctx = NULL;
    int rc = 0;
    if (!md) {
        rc = ferry_error_set(err, FERRY_EUSAGE, key_pem_path, FERRY_NO_OFFSET, NULL,
                             "OMS signing needs an ECDSA key on P-256, P-384 or P-521 (got %s)",
                             curve[0] ? curve : "another key type");
        goto out;
    }
    pae = ferry_dsse_pae(FERRY_INTOTO_PAYLOAD, statement, len, &pae_len);
    ctx = EVP_MD_CTX_new();
    if (!pae || !ctx || EVP_DigestSignInit(ctx, NULL, md, NULL, k) != 1 ||
        EVP_DigestSign(ctx, NULL, &sig_len, pae, pae_len) != 1 || !(sig = malloc(sig_len)) ||
        EVP_DigestSign(ctx, sig, &sig_len, pae, pae_len) != 1 || pem_text(k, 0, &pub, &pub_len)) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, key_pem_path, FERRY_NO_OFFSET, NULL,
                             "ECDSA signing failed");
        goto out;
    }
    uint8_t h[32];
    char hint[65];
    SHA256((const uint8_t *)pub, pub_len, h);
    ferry_hex(h, 32, hint);
    sig64 = ferry_base64_encode(sig, sig_len);
    pay64 = ferry_base64_encode(statement, len);
    json_t *b = json_pack("{s:s, s:{s:{s:s}, s:[]}, s:{s:s, s:s, s:[{s:s, s:s}]}}", "mediaType",
                          BUNDLE_V03, "verificationMaterial", "publicKey", "hint", hint,
                          "tlogEntries", "dsseEnvelope", "payload", pay64, "payloadType",
                          FERRY_INTOTO_PAYLOAD, "signatures", "sig", sig64, "keyid", "");
    bundle = b ? json_dumps(b, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(b);
    if (!bundle) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, out_path, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    rc = write_file(out_path, bundle, strlen(bundle), force, 0, err);
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    free(pae);
    free(sig);
    free(pub);
    free(bundle);
    free(sig64);
    free(pay64);
    return rc;
}

static X509 *der_cert(const char *b64)
{
    size_t n;
    uint8_t *der = ferry_base64_decode(b64, &n, 1);
    const uint8_t *p = der;
    X509 *x = der ? d2i_X509(NULL, &p, (long)n) : NULL;
    free(der);
    return x;
}

/* Validates the bundle's chain against the trust anchors; returns the leaf's key. */
static EVP_PKEY *chain_key(const char *bundle_path, json_t *certs, const char *const *ca_paths,
                           size_t nca, struct ferry_error *err)
{
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (!json_is_array(certs) || json_array_size(certs) == 0) {
        ferry_error_set(err, FERRY_EMISMATCH, bundle_path, FERRY_NO_OFFSET, NULL,
                        "empty certificate chain");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(certs); i++) {
        X509 *x =
            der_cert(json_string_value(json_object_get(json_array_get(certs, i), "rawBytes")));
        if (!x) {
            ferry_error_set(err, FERRY_EMISMATCH, bundle_path, FERRY_NO_OFFSET, NULL,
                            "certificate %zu is not valid DER", i);
            goto out;
        }
        if (i == 0)
            leaf = x;
        else
            sk_X509_push(untrusted, x);
    }
    if (!nca) {
        ferry_error_set(err, FERRY_EUSAGE, bundle_path, FERRY_NO_OFFSET, NULL,
                        "certificate bundle: give the trust anchors with --cert-chain PEM");
        goto out;
    }
    for (size_t i = 0; i < nca; i++)
        if (X509_STORE_load_file(store, ca_paths[i]) != 1) {
            ferry_error_set(err, access(ca_paths[i], R_OK) ? FERRY_ENOINPUT : FERRY_EMALFORMED,
                            ca_paths[i], FERRY_NO_OFFSET, NULL, "cannot load certificates from it");
            goto out;
        }
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1 || X509_verify_cert(ctx) != 1) {
        ferry_error_set(err, FERRY_EMISMATCH, bundle_path, FERRY_NO_OFFSET, NULL,
                        "certificate chain does not validate: %s",
                        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    uint32_t ku = X509_get_key_usage(leaf), xku = X509_get_extended_key_usage(leaf);
    if (!(ku & KU_DIGITAL_SIGNATURE) && !(xku & XKU_CODE_SIGN)) {
        ferry_error_set(err, FERRY_EMISMATCH, bundle_path, FERRY_NO_OFFSET, NULL,
                        "leaf certificate allows neither digital signatures nor code signing");
        goto out;
    }
    key = X509_get_pubkey(leaf);
out:
    X509_free(leaf);
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return key;
}

int ferry_oms_verify(const char *bundle_path, const char *pubkey_path, const char *const *ca_paths,
                     size_t nca, uint8_t **payload, size_t *payload_len, struct ferry_error *err)
{
    *payload = NULL;
    struct ferry_map m;
    int rc = ferry_map_open(&m, bundle_path, err);
    if (rc) return rc;
    json_error_t je;
    json_t *b = m.size < (64u << 20)
                    ? json_loadb((const char *)m.data, (size_t)m.size, JSON_REJECT_DUPLICATES, &je)
                    : NULL;
    ferry_map_close(&m);
    EVP_PKEY *key = NULL;
    uint8_t *pay = NULL, *sig = NULL, *pae = NULL;
    size_t pay_len = 0, sig_len = 0, pae_len = 0;
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        rc = ferry_error_set(err, FERRY_EMISMATCH, bundle_path, FERRY_NO_OFFSET, __VA_ARGS__);     \
        goto out;                                                                                  \
    } while (0)
    if (!b) FAIL(NULL, "bundle is not valid JSON (or larger than 64 MiB)");
    const char *mt = json_string_value(json_object_get(b, "mediaType"));
    if (!mt || strncmp(mt, "application/vnd.dev.sigstore.bundle", 35) != 0)
        FAIL("mediaType", "not a Sigstore bundle");
    json_t *env = json_object_get(b, "dsseEnvelope"),
           *vm = json_object_get(b, "verificationMaterial");
    const char *pt = json_string_value(json_object_get(env, "payloadType"));
    if (!json_is_object(env))
        FAIL("dsseEnvelope", "missing (message-signature bundles are not model signatures)");
    if (!pt || strcmp(pt, FERRY_INTOTO_PAYLOAD))
        FAIL("payloadType", "is '%s', expected %s", pt ? pt : "(missing)", FERRY_INTOTO_PAYLOAD);
    json_t *sigs = json_object_get(env, "signatures");
    if (!json_is_array(sigs) || json_array_size(sigs) != 1)
        FAIL("signatures", "a DSSE envelope in a bundle must hold exactly one signature");
    pay = ferry_base64_decode(json_string_value(json_object_get(env, "payload")), &pay_len, 1);
    sig = ferry_base64_decode(json_string_value(json_object_get(json_array_get(sigs, 0), "sig")),
                              &sig_len, 1);
    if (!pay || !sig) FAIL("dsseEnvelope", "payload or signature is not base64");
    json_t *pk = json_object_get(vm, "publicKey"),
           *chain = json_object_get(vm, "x509CertificateChain");
    if (json_is_object(pk)) {
        if (!pubkey_path) {
            rc = ferry_error_set(err, FERRY_EUSAGE, bundle_path, FERRY_NO_OFFSET, NULL,
                                 "key bundle: give the signer's public key with --pubkey");
            goto out;
        }
        if (!(key = read_key(pubkey_path, 0, err))) {
            rc = err ? err->code : FERRY_EMALFORMED;
            goto out;
        }
        const char *hint = json_string_value(json_object_get(pk, "hint"));
        const char *raw = json_string_value(json_object_get(pk, "rawBytes"));
        char want[65];
        if ((rc = ferry_oms_key_hint(pubkey_path, want, err))) goto out;
        if (hint && strcmp(hint, want))
            FAIL("publicKey.hint", "key mismatch: bundle names key %s, --pubkey is %s", hint, want);
        if (!hint && raw) {
            size_t n;
            uint8_t *pem = ferry_base64_decode(raw, &n, 1);
            BIO *bio = pem ? BIO_new_mem_buf(pem, (int)n) : NULL;
            EVP_PKEY *bk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
            int same = bk && EVP_PKEY_eq(bk, key) == 1;
            EVP_PKEY_free(bk);
            BIO_free(bio);
            free(pem);
            if (!same) FAIL("publicKey.rawBytes", "key mismatch: the bundle's key is not --pubkey");
        }
    } else if (json_is_object(chain)) {
        if (!(key = chain_key(bundle_path, json_object_get(chain, "certificates"), ca_paths, nca,
                              err))) {
            rc = err ? err->code : FERRY_EMISMATCH;
            goto out;
        }
    } else if (json_object_get(vm, "certificate")) {
        rc = ferry_error_set(err, FERRY_EUSAGE, bundle_path, FERRY_NO_OFFSET, NULL,
                             "Sigstore keyless bundles are not supported yet");
        goto out;
    } else
        FAIL("verificationMaterial", "has no public key or certificate chain");
    char curve[64];
    const EVP_MD *md = md_for(key, curve, sizeof(curve));
    if (!md)
        FAIL(NULL, "signing key is not ECDSA P-256, P-384 or P-521 (%s)",
             curve[0] ? curve : "other type");
    pae = ferry_dsse_pae(FERRY_INTOTO_PAYLOAD, pay, pay_len, &pae_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = pae && ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, pae, pae_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) FAIL(NULL, "signature does not verify (payload changed or wrong key)");
    *payload = pay;
    *payload_len = pay_len;
    pay = NULL;
#undef FAIL
out:
    json_decref(b);
    EVP_PKEY_free(key);
    free(pay);
    free(sig);
    free(pae);
    return rc;
}
