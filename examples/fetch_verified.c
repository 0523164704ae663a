/* Fetch a signed model from mirrors and verify it, with libferry alone: what `ferry fetch
 * --manifest` and `ferry verify` do, as a mirror daemon or CI job would embed it. Events are
 * printed one per line as they arrive.
 *
 * usage: fetch_verified MANIFEST_URL PUBKEY DIR LICENSE_SHA256 MIRROR...
 *   MANIFEST_URL  model.manifest.json (its .minisig beside it) or an OMS model.sig, URL or path
 *   PUBKEY        the publisher's minisign or PEM public key
 *   LICENSE_SHA256  the license text you accept ("-" when the model needs no acceptance)
 * Exit status 0 when every file arrived and the directory verifies against the manifest. */
#include <ferry/fetch_flow.h>
#include <ferry/hash.h>
#include <ferry/verify.h>

#include <stdio.h>
#include <string.h>

static void on_note(void *ctx, const char *text, long long expires)
{
    (void)ctx, (void)expires;
    printf("note %s\n", text);
}

static void on_done(void *ctx, const char *name, const struct ferry_fetch_result *r)
{
    (void)ctx;
    char hex[65];
    ferry_hex(r->sha256, 32, hex);
    printf("done %s %llu %s\n", name, (unsigned long long)r->size, hex);
}

static void on_skipped(void *ctx, const char *name, uint64_t bytes, const char *reason)
{
    (void)ctx, (void)bytes;
    printf("skipped %s (%s)\n", name, reason);
}

static void on_mirror_skipped(void *ctx, const char *name, const char *mirror, int wrong_bytes,
                              int last)
{
    (void)ctx, (void)last;
    printf("mirror-skipped %s %s %s\n", name, mirror, wrong_bytes ? "wrong-bytes" : "unavailable");
}

static void on_error(void *ctx, const char *name, const struct ferry_error *err)
{
    (void)ctx;
    char buf[2048];
    printf("error %s: %s\n", name, ferry_error_format(err, buf, sizeof(buf)));
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s MANIFEST_URL PUBKEY DIR LICENSE_SHA256 MIRROR...\n", argv[0]);
        return 64;
    }
    const char *dir = argv[3];
    struct ferry_fetch_manifest_opts mo = {
        .manifest = argv[1],
        .sig = {.pubkey = argv[2]},
        .mirrors = (const char *const *)argv + 5,
        .nmirrors = (size_t)(argc - 5),
        .accept = strcmp(argv[4], "-") ? argv[4] : NULL,
        .who = {.name = "fetch_verified example"},
    };
    struct ferry_fetch_opts o = {.connections = 4};
    struct ferry_fetch_events ev = {.note = on_note,
                                    .done = on_done,
                                    .skipped = on_skipped,
                                    .mirror_skipped = on_mirror_skipped,
                                    .error = on_error};
    struct ferry_fetch_tally t = {0};
    ferry_fetch_global_init();
    if (ferry_fetch_manifest(dir, &mo, &o, &ev, &t)) {
        printf("fetch failed: %u ok, %u failed\n", t.ok, t.failed);
        return -t.code;
    }
    /* verify what landed, as `ferry verify DIR --pubkey K` would */
    struct ferry_manifest m = {0};
    struct ferry_signature_report sr;
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_signature_opts so = {.pubkey = argv[2]};
    struct ferry_check_report r = {0};
    struct ferry_walk_opts wo = {0};
    int rc = ferry_verify_signature(dir, &so, &m, &sr, &err); /* 1 verified, 0 none */
    if (rc == 0) ferry_error_set(&err, FERRY_EMISMATCH, dir, FERRY_NO_OFFSET, NULL, "no signature");
    rc = rc == 1 ? ferry_manifest_check(dir, &m, &wo, &r, &err) : err.code;
    char buf[2048];
    if (rc) {
        printf("verify failed: %s\n", ferry_error_format(&err, buf, sizeof(buf)));
        ferry_manifest_free(&m);
        return 1;
    }
    int bad = r.nmissing || r.nextra || r.nmismatched;
    printf(
        "verified %zu files (%llu bytes), %zu missing, %zu extra, %zu changed; signature %s%s%s\n",
        r.nok, (unsigned long long)r.bytes, r.nmissing, r.nextra, r.nmismatched, sr.method,
        sr.key_id[0] ? " by key " : "", sr.key_id);
    ferry_check_report_free(&r);
    ferry_manifest_free(&m);
    return bad ? 1 : 0;
}
