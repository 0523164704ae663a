/* `ferry fetch --manifest ... --mirror ...`: signed-manifest-driven downloads with mirror
 * failover and the license gate. */
#ifndef FERRY_CLI_FETCH_MANIFEST_H
#define FERRY_CLI_FETCH_MANIFEST_H

#include "fetch_hub.h"

struct fetch_manifest_opts {
    const char *manifest;  /* URL or path of model.manifest.json (+ .minisig beside it) or model.sig */
    const char *pubkey;
    const char **mirrors;  /* base URLs, tried in order */
    int nmirrors;
    const char *accept;    /* --accept-license=SHA256 */
    const char *name;      /* --name for the acceptance record */
    const char **trust;    /* --trust-acceptor public key files */
    size_t ntrust;
};

void fetch_manifest(const char *dir, const struct fetch_manifest_opts *mo, struct ferry_fetch_opts *o,
                    struct fetch_tally *t);

#endif
