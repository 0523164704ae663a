/* ferry.source.digest of SPEC section 7 (see ferry/hash.h): the manifest root of a source. */
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ferry_source_digest_recorded(const char *src, uint8_t root[32])
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/model.manifest.json", src);
    uint8_t *buf;
    size_t n;
    struct ferry_error e;
    ferry_error_clear(&e);
    if (ferry_read_file(path, 64u << 20, &buf, &n, &e)) return 0;
    struct ferry_manifest m;
    int ok = ferry_manifest_parse((const char *)buf, n, path, &m, &e) == 0;
    free(buf);
    if (ok) {
        memcpy(root, m.root, 32);
        ferry_manifest_free(&m);
    }
    return ok;
}

int ferry_source_digest_possible(const char *src)
{
    struct ferry_walk_opts wo = {.walk_only = 1};
    struct ferry_manifest m;
    struct ferry_error e;
    ferry_error_clear(&e);
    if (ferry_manifest_build(src, &wo, &m, &e) != 0) return 0;
    ferry_manifest_free(&m);
    return 1;
}

int ferry_source_digest(const char *src, unsigned threads, uint8_t root[32],
                        struct ferry_error *err)
{
    struct ferry_walk_opts wo = {.threads = threads};
    struct ferry_manifest m;
    int rc = ferry_manifest_build(src, &wo, &m, err);
    if (rc) return rc;
    memcpy(root, m.root, 32);
    ferry_manifest_free(&m);
    return 0;
}
