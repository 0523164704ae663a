/* Rendering of the library's signature and license reports for `verify`, `license` and
 * `fetch --manifest` (see verify_common.h). */
#define _GNU_SOURCE
#include "verify_common.h"
#include "output.h"
#include "ferry/hash.h"
#include "ferry/verify.h"

#include <stdio.h>
#include <string.h>

int verify_signature(const char *dir, const char *sigfile, const char *pubkey,
                     const char *const *cas, size_t nca, struct ferry_manifest *m, json_t *doc,
                     struct ferry_error *err)
{
    struct ferry_signature_opts o = {sigfile, pubkey, cas, nca};
    struct ferry_signature_report r;
    int rc = ferry_verify_signature(dir, &o, m, &r, err);
    if (rc != 1) return rc;
    render_signature(&r, doc);
    return 1;
}

void render_signature(const struct ferry_signature_report *rp, json_t *doc)
{
    const struct ferry_signature_report r = *rp;
    if (!strcmp(r.method, "minisign")) {
        notef("signature: good minisign signature by key %s (trusted comment: %s)", r.key_id,
              r.trusted_comment);
        if (doc)
            json_object_set_new(doc, "signature",
                                json_pack("{s:s, s:s, s:s, s:s}", "method", "minisign", "file",
                                          r.file, "key_id", r.key_id, "trusted_comment",
                                          r.trusted_comment));
    } else {
        notef("signature: good OpenSSF Model Signing bundle (%s)",
              r.by_certificate ? "certificate chain" : "key");
        if (doc)
            json_object_set_new(doc, "signature",
                                json_pack("{s:s, s:s}", "method", "oms-bundle", "file", r.file));
    }
}

int verify_license(const char *dir, const struct ferry_manifest *m,
                   const struct ferry_license_opts *lo, json_t *doc)
{
    struct ferry_license_report r;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_license_status(dir, m, lo, &r, &err)) {
        report_error(&err);
        return -1;
    }
    json_t *found = json_array();
    for (size_t i = 0; i < r.nfound; i++) {
        const struct ferry_license_found *f = &r.found[i];
        const struct ferry_license_acceptance *a = &f->a;
        if (!f->valid) {
            warnf("ignoring invalid acceptance record: %s", f->why_invalid);
            continue;
        }
        const char *who = a->acceptor_name[0] ? a->acceptor_name : "?";
        if (f->verdict == FERRY_LICENSE_COUNTS)
            notef("license: %s accepted by %s%s%s%s%s%s at %s (key %s, trusted; %s)",
                  r.license->name, who, a->acceptor_email[0] ? " <" : "", a->acceptor_email,
                  a->acceptor_email[0] ? ">" : "", a->on_behalf_of[0] ? " on behalf of " : "",
                  a->on_behalf_of, a->accepted_at, a->key_id, f->path);
        else
            warnf("license: not counting the record %s by %s (key %s): %s", f->path, who, a->key_id,
                  ferry_license_verdict_text(f->verdict));
        json_array_append_new(found, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s}", "record",
                                               f->path, "name", a->acceptor_name, "on_behalf_of",
                                               a->on_behalf_of, "accepted_at", a->accepted_at,
                                               "key_id", a->key_id, "trusted",
                                               f->verdict != FERRY_LICENSE_UNTRUSTED_KEY &&
                                                   f->verdict != FERRY_LICENSE_OTHER_MODEL,
                                               "counts", f->verdict == FERRY_LICENSE_COUNTS,
                                               "verdict", ferry_license_verdict_text(f->verdict)));
    }
    if (doc)
        json_object_set_new(doc, "license",
                            json_pack("{s:b, s:o}", "required", r.required, "records", found));
    else
        json_decref(found);
    int rc = 0;
    if (!r.required) {
        notef("license: no text in the manifest requires acceptance");
    } else if (!r.license) {
        errorf("license: acceptance is required but the manifest names no LICENSE file");
        rc = -1;
    } else if (!r.accepted) {
        char hex[65];
        ferry_hex(r.license->sha256, 32, hex);
        errorf("license: no acceptance record for %s (sha256 %s) bound to this model and made by "
               "a trusted key; see 'ferry license show %s'",
               r.license->name, hex, dir);
        rc = -1;
    }
    ferry_license_report_free(&r);
    return rc;
}
