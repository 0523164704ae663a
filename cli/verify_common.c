/* Signature discovery and checking for `verify` and `license` (see verify_common.h). */
#define _GNU_SOURCE
#include "verify_common.h"
#include "output.h"
#include "ferry/file.h"
#include "ferry/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int verify_minisign(const char *manifest, const char *sig, const char *pubkey,
                           struct ferry_manifest *m, json_t *doc, struct ferry_error *err)
{
    if (!pubkey)
        return ferry_error_set(err, FERRY_EUSAGE, sig, FERRY_NO_OFFSET, NULL,
                               "give the signer's minisign public key with --pubkey");
    struct ferry_minisign_pub pub;
    int rc = access(pubkey, F_OK) == 0 ? ferry_minisign_load_pub(pubkey, &pub, err)
                                       : ferry_minisign_parse_pub(pubkey, &pub, err);
    if (rc) return rc;
    /* one read of the manifest: the bytes verified are the bytes parsed */
    struct ferry_map map;
    if ((rc = ferry_map_open(&map, manifest, err))) return rc;
    char tc[8192];
    rc = ferry_minisign_verify_buf(&pub, map.data ? map.data : (const uint8_t *)"",
                                   (size_t)map.size, manifest, sig, tc, sizeof(tc), err);
    if (!rc) rc = ferry_manifest_parse((const char *)map.data, (size_t)map.size, manifest, m, err);
    ferry_map_close(&map);
    if (rc) return rc;
    char id[17];
    ferry_minisign_key_id(pub.keynum, id);
    notef("signature: good minisign signature by key %s (trusted comment: %s)", id, tc);
    json_object_set_new(doc, "signature",
                        json_pack("{s:s, s:s, s:s, s:s}", "method", "minisign", "file", sig,
                                  "key_id", id, "trusted_comment", tc));
    return 1;
}

static int verify_oms(const char *bundle, const char *pubkey, const char *const *cas, size_t nca,
                      struct ferry_manifest *m, json_t *doc, struct ferry_error *err)
{
    uint8_t *payload;
    size_t len;
    int rc = ferry_oms_verify(bundle, pubkey, cas, nca, &payload, &len, err);
    if (rc) return rc;
    rc = ferry_manifest_parse((const char *)payload, len, bundle, m, err);
    free(payload);
    if (rc) return rc;
    notef("signature: good OpenSSF Model Signing bundle (%s)",
          pubkey ? "key" : "certificate chain");
    json_object_set_new(doc, "signature",
                        json_pack("{s:s, s:s}", "method", "oms-bundle", "file", bundle));
    return 1;
}

int verify_signature(const char *dir, int isdir, const char *sigfile, const char *pubkey,
                     const char *const *cas, size_t nca, struct ferry_manifest *m, json_t *doc,
                     struct ferry_error *err)
{
    char bundle[4096], manifest[4096], sig[4200];
    if (sigfile) {
        size_t l = strlen(sigfile);
        if (l > 8 && !strcmp(sigfile + l - 8, ".minisig") && l - 8 < sizeof(manifest)) {
            memcpy(manifest, sigfile, l - 8);
            manifest[l - 8] = 0;
            return verify_minisign(manifest, sigfile, pubkey, m, doc, err);
        }
        if (access(sigfile, F_OK) != 0)
            return ferry_error_set(err, FERRY_ENOINPUT, sigfile, FERRY_NO_OFFSET, NULL,
                                   "not found");
        return verify_oms(sigfile, pubkey, cas, nca, m, doc, err);
    }
    snprintf(bundle, sizeof(bundle), isdir ? "%s/model.sig" : "%s.sig", dir);
    snprintf(manifest, sizeof(manifest), isdir ? "%s/model.manifest.json" : "%s.manifest.json",
             dir);
    snprintf(sig, sizeof(sig), "%s.minisig", manifest);
    if (access(bundle, F_OK) == 0) return verify_oms(bundle, pubkey, cas, nca, m, doc, err);
    if (access(sig, F_OK) == 0) return verify_minisign(manifest, sig, pubkey, m, doc, err);
    if (access(manifest, F_OK) == 0)
        return ferry_error_set(err, FERRY_EMISMATCH, manifest, FERRY_NO_OFFSET, NULL,
                               "manifest without a signature (%s.minisig is missing)", manifest);
    return 0;
}
