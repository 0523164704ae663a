/* ferry_sign_model (see ferry/verify.h): build, hash and sign a model's manifest. */
#define _GNU_SOURCE
#include "ferry/codec.h"
#include "ferry/file.h"
#include "ferry/sign.h"
#include "ferry/verify.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ferry_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

int ferry_sign_key_is_minisign(const char *key)
{
    FILE *f = ferry_fopen_regular(key, NULL);
    char head[32] = "";
    if (f) {
        if (!fgets(head, sizeof(head), f)) head[0] = 0;
        fclose(f);
    }
    return !strncmp(head, "untrusted comment:", 18);
}

static int write_manifest(const char *path, const char *json, int force, struct ferry_error *err)
{
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, force, err);
    if (rc) return rc;
    if (!(rc = ferry_out_write(&o, json, strlen(json), err)) &&
        !(rc = ferry_out_write(&o, "\n", 1, err)))
        rc = ferry_out_commit(&o, err);
    if (rc) ferry_out_abort(&o);
    return rc;
}

int ferry_sign_model(const char *path, const struct ferry_sign_opts *o, struct ferry_sign_result *r,
                     struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    struct stat st;
    if (stat(path, &st) != 0)
        return ferry_error_set(err, ferry_errno_code(errno), path, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    int isdir = S_ISDIR(st.st_mode), minisign = ferry_sign_key_is_minisign(o->key);
    snprintf(r->method, sizeof(r->method), minisign ? "minisign" : "oms-bundle");
    if (minisign) {
        snprintf(r->manifest, sizeof(r->manifest),
                 isdir ? "%s/model.manifest.json" : "%s.manifest.json", path);
        snprintf(r->signature, sizeof(r->signature), "%s.minisig", r->manifest);
    } else {
        snprintf(r->signature, sizeof(r->signature), isdir ? "%s/model.sig" : "%s.sig", path);
    }
    if (!o->force &&
        (access(r->signature, F_OK) == 0 || (minisign && access(r->manifest, F_OK) == 0)))
        return ferry_error_set(err, FERRY_ECANTCREAT, r->signature, FERRY_NO_OFFSET, NULL,
                               "signature exists (use --force to replace it)");
    /* the key before the hashing: a wrong password fails at once */
    struct ferry_minisign_key mk;
    int rc = minisign ? ferry_minisign_load_key(o->key, o->password, &mk, err) : 0;
    if (rc) return rc;
    struct ferry_manifest m;
    rc = ferry_manifest_build(path, &o->walk, &m, err);
    if (rc) {
        ferry_wipe(&mk, sizeof(mk));
        return rc;
    }
    char *json = ferry_manifest_to_json(&m);
    if (!json)
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    if (!rc && minisign) {
        char tc[4400];
        const char *base = strrchr(r->manifest, '/') ? strrchr(r->manifest, '/') + 1 : r->manifest;
        snprintf(tc, sizeof(tc), "timestamp:%lld\tfile:%s\thashed", (long long)time(NULL), base);
        rc = write_manifest(r->manifest, json, o->force, err);
        if (!rc) rc = ferry_minisign_sign_file(&mk, r->manifest, r->signature, tc, o->force, err);
    } else if (!rc) {
        rc = ferry_oms_sign(o->key, (const uint8_t *)json, strlen(json), r->signature, o->force,
                            err);
    }
    ferry_wipe(&mk, sizeof(mk));
    if (!rc) {
        memcpy(r->root, m.root, 32);
        r->files = m.nres;
        for (size_t i = 0; i < m.nres; i++) r->bytes += m.res[i].size;
    }
    free(json);
    ferry_manifest_free(&m);
    return rc;
}

int ferry_license_text_read(const char *dir, const struct ferry_resource *res, char **text,
                            size_t *len, struct ferry_error *err)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, res->name) < 0)
        return ferry_error_set(err, FERRY_EINTERNAL, dir, FERRY_NO_OFFSET, NULL, "out of memory");
    struct ferry_map map;
    int rc = ferry_map_open(&map, path, err);
    if (!rc) {
        uint8_t h[32];
        unsigned hl;
        EVP_Digest(map.data ? map.data : (const uint8_t *)"", (size_t)map.size, h, &hl,
                   EVP_sha256(), NULL);
        if (memcmp(h, res->sha256, 32) != 0)
            rc = ferry_error_set(err, FERRY_EMISMATCH, path, FERRY_NO_OFFSET, NULL,
                                 "does not match the signed manifest (text changed)");
        else if (!(*text = malloc((size_t)map.size + 1)))
            rc =
                ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        else {
            memcpy(*text, map.data, (size_t)map.size);
            (*text)[map.size] = 0;
            *len = (size_t)map.size;
        }
        ferry_map_close(&map);
    }
    free(path);
    return rc;
}
