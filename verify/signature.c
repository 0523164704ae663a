/* Signature discovery and checking for a model directory or file (see ferry/verify.h). */
#define _GNU_SOURCE
#include "ferry/file.h"
#include "ferry/sign.h"
#include "ferry/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A minisign public key given as a file or as its base64 line; 0 when it is one. */
static int minisign_key(const char *pubkey, struct ferry_minisign_pub *pub, struct ferry_error *err)
{
    return access(pubkey, F_OK) == 0 ? ferry_minisign_load_pub(pubkey, pub, err)
                                     : ferry_minisign_parse_pub(pubkey, pub, err);
}

static int verify_minisign(const char *manifest, const char *sig, const char *pubkey,
                           struct ferry_manifest *m, struct ferry_signature_report *r,
                           struct ferry_error *err)
{
    if (!pubkey)
        return ferry_error_set(err, FERRY_EUSAGE, sig, FERRY_NO_OFFSET, NULL,
                               "give the signer's minisign public key with --pubkey");
    struct ferry_minisign_pub pub;
    int rc = minisign_key(pubkey, &pub, err);
    if (rc) return rc;
    /* one read of the manifest: the bytes verified are the bytes parsed */
    struct ferry_map map;
    if ((rc = ferry_map_open(&map, manifest, err))) return rc;
    rc = ferry_minisign_verify_buf(&pub, map.data ? map.data : (const uint8_t *)"",
                                   (size_t)map.size, manifest, sig, r->trusted_comment,
                                   sizeof(r->trusted_comment), err);
    if (!rc) rc = ferry_manifest_parse((const char *)map.data, (size_t)map.size, manifest, m, err);
    ferry_map_close(&map);
    if (rc) return rc;
    snprintf(r->method, sizeof(r->method), "minisign");
    snprintf(r->file, sizeof(r->file), "%s", sig);
    ferry_minisign_key_id(pub.keynum, r->key_id);
    return 1;
}

static int verify_oms(const char *bundle, const struct ferry_signature_opts *o,
                      struct ferry_manifest *m, struct ferry_signature_report *r,
                      struct ferry_error *err)
{
    uint8_t *payload;
    size_t len;
    int rc = ferry_oms_verify(bundle, o->pubkey, o->cas, o->ncas, &payload, &len, err);
    if (rc) return rc;
    rc = ferry_manifest_parse((const char *)payload, len, bundle, m, err);
    free(payload);
    if (rc) return rc;
    snprintf(r->method, sizeof(r->method), "oms-bundle");
    snprintf(r->file, sizeof(r->file), "%s", bundle);
    r->by_certificate = !o->pubkey;
    return 1;
}

int ferry_verify_signature(const char *path, const struct ferry_signature_opts *o,
                           struct ferry_manifest *m, struct ferry_signature_report *r,
                           struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    char bundle[4096], manifest[4096], sig[4200];
    struct stat st;
    int isdir = stat(path, &st) == 0 && S_ISDIR(st.st_mode); /* a file has its own .sig */
    if (o->sigfile) {
        size_t l = strlen(o->sigfile);
        if (l > 8 && !strcmp(o->sigfile + l - 8, ".minisig") && l - 8 < sizeof(manifest)) {
            /* the signature is elsewhere; the manifest it signs is the model's own, and only
             * without one the file the signature's name points to (X for X.minisig) */
            snprintf(manifest, sizeof(manifest),
                     isdir ? "%s/model.manifest.json" : "%s.manifest.json", path);
            if (access(manifest, F_OK) != 0) {
                memcpy(manifest, o->sigfile, l - 8);
                manifest[l - 8] = 0;
            }
            return verify_minisign(manifest, o->sigfile, o->pubkey, m, r, err);
        }
        if (access(o->sigfile, F_OK) != 0)
            return ferry_error_set(err, FERRY_ENOINPUT, o->sigfile, FERRY_NO_OFFSET, NULL,
                                   "not found");
        return verify_oms(o->sigfile, o, m, r, err);
    }
    snprintf(bundle, sizeof(bundle), isdir ? "%s/model.sig" : "%s.sig", path);
    snprintf(manifest, sizeof(manifest), isdir ? "%s/model.manifest.json" : "%s.manifest.json",
             path);
    snprintf(sig, sizeof(sig), "%s.minisig", manifest);
    int have_bundle = access(bundle, F_OK) == 0, have_minisig = access(sig, F_OK) == 0;
    if (have_bundle && have_minisig) {
        /* both kinds: the key decides which one it can verify */
        struct ferry_minisign_pub pub;
        int minisign = o->pubkey && minisign_key(o->pubkey, &pub, NULL) == 0;
        if (!o->pubkey && !o->ncas)
            return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                                   "signed twice (model.sig and a .minisig): give --pubkey "
                                   "(minisign or PEM) or --cert-chain");
        return minisign ? verify_minisign(manifest, sig, o->pubkey, m, r, err)
                        : verify_oms(bundle, o, m, r, err);
    }
    if (have_bundle) return verify_oms(bundle, o, m, r, err);
    if (have_minisig) return verify_minisign(manifest, sig, o->pubkey, m, r, err);
    if (access(manifest, F_OK) == 0)
        return ferry_error_set(err, FERRY_EMISMATCH, manifest, FERRY_NO_OFFSET, NULL,
                               "manifest without a signature (%s.minisig is missing)", manifest);
    return 0;
}
