/* ferry verify DIR: check a model against its signed manifest (minisign or OMS bundle), a
 * checksum list (checklist.chk, SHA256SUMS) and optionally a recorded license acceptance.
 * Exit 0 only when everything holds, 1 when anything does not. */
#define _GNU_SOURCE
#include "commands.h"
#include "output.h"
#include "progress.h"
#include "verify_common.h"
#include "ferry/archive.h"
#include "ferry/checklist.h"
#include "ferry/hash.h"
#include "ferry/manifest.h"
#include "ferry/sign.h"
#include "ferry/torrent_check.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry verify DIR [--pubkey K] [--cert-chain PEM]... [--checklist F] [--signature F]\n"
    "                    [--torrent F]\n"
    "                    [--require-license [--trust-acceptor KEY.pub]...] [--ignore PATH]...\n"
    "                    [--threads N] [--json]\n\n"
    "Finds DIR/model.sig (OpenSSF Model Signing bundle) or DIR/model.manifest.json with its\n"
    ".minisig, verifies the signature, then hashes every file and reports missing, extra and\n"
    "changed files. Without a signature, DIR/checklist.chk or DIR/SHA256SUMS is checked\n"
    "(integrity only). An archive (.tar, .tar.gz/.zst/.xz/.bz2, .zip) is checked the same way\n"
    "in one streaming pass, nothing extracted: against the signed manifest inside (or beside)\n"
    "it, and with --checklist against that list.\n\n"
    "  --pubkey K        minisign public key (file or base64 line) or PEM public key\n"
    "  --cert-chain PEM  trust anchors for certificate bundles (repeatable)\n"
    "  --checklist F     also check an md5sum/sha256sum list\n"
    "  --signature F     the signature file, when it is not in the usual place\n"
    "  --torrent F       a v2/hybrid .torrent whose file roots must equal the manifest's\n"
    "  --ignore PATH     leave PATH out of the extra-file check (older bundles did not\n"
    "                    record their ignore list)\n"
    "  --require-license a license acceptance record must exist (ferry license) for this\n"
    "                    manifest's root, signed by your acceptance key or a trusted one\n"
    "  --trust-acceptor KEY.pub  also trust acceptance records signed by this minisign key\n";

static json_t *report_json(const struct ferry_check_report *r)
{
    json_t *o = json_object(), *a;
    json_object_set_new(o, "ok", json_integer((json_int_t)r->nok));
    json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes));
    char **lists[3] = {r->missing, r->extra, r->mismatched};
    size_t ns[3] = {r->nmissing, r->nextra, r->nmismatched};
    const char *names[3] = {"missing", "extra", "mismatched"};
    for (int k = 0; k < 3; k++) {
        a = json_array();
        for (size_t i = 0; i < ns[k]; i++) json_array_append_new(a, json_string(lists[k][i]));
        json_object_set_new(o, names[k], a);
    }
    return o;
}

/* what counted: files hashed (with their bytes) or, for a torrent, v2 roots compared */
static int print_report(const char *what, const struct ferry_check_report *r, int roots)
{
    for (size_t i = 0; i < r->nmissing; i++) errorf("%s: missing file: %s", what, r->missing[i]);
    for (size_t i = 0; i < r->nextra; i++)
        errorf("%s: extra file not in the manifest: %s", what, r->extra[i]);
    for (size_t i = 0; i < r->nmismatched; i++)
        errorf("%s: changed file: %s", what, r->mismatched[i]);
    int bad = r->nmissing || r->nextra || r->nmismatched;
    if (!bad && roots)
        notef("%s: the v2 roots of %zu files equal the manifest's", what, r->nok);
    else if (!bad)
        notef("%s: %zu files OK (%llu bytes)", what, r->nok, (unsigned long long)r->bytes);
    return bad;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pubkey", required_argument, NULL, 'k'},
        {"cert-chain", required_argument, NULL, 'c'},
        {"checklist", required_argument, NULL, 'l'},
        {"require-license", no_argument, NULL, 'L'},
        {"trust-acceptor", required_argument, NULL, 'A'},
        {"ignore", required_argument, NULL, 'i'},
        {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"signature", required_argument, NULL, 's'},
        {"torrent", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pubkey = NULL, *checklist = NULL, *sigfile = NULL, *torrent = NULL, *cas[64],
               *ignore[256];
    const char *trust[16];
    size_t nca = 0, ntrust = 0;
    int require_license = 0, c;
    uint64_t v;
    struct ferry_walk_opts wo = {.ignore = ignore};
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': pubkey = optarg; break;
        case 'c':
            if (nca == 64) return EXIT_USAGE;
            cas[nca++] = optarg;
            break;
        case 'l': checklist = optarg; break;
        case 'L': require_license = 1; break;
        case 'A':
            if (ntrust == 16) return EXIT_USAGE;
            trust[ntrust++] = optarg;
            break;
        case 'i':
            if (wo.nignore == 256) return EXIT_USAGE;
            ignore[wo.nignore++] = optarg;
            break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 1024, &v)) return EXIT_USAGE;
            wo.threads = (unsigned)v;
            break;
        case 'j': g_opts.json = 1; break;
        case 's': sigfile = optarg; break;
        case 'T': torrent = optarg; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *dir = argv[optind];
    struct stat st;
    if (stat(dir, &st) != 0) {
        errorf("%s: not found", dir);
        return EXIT_NOINPUT;
    }
    json_t *doc = json_object();
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_manifest m = {0};
    int have_manifest = 0, failed = 0, checked = 0, rc;
    int archive = S_ISREG(st.st_mode) && ferry_archive_name(dir) && !sigfile;
    if (archive && (require_license || torrent)) {
        errorf("%s: an archive is verified against the signed manifest inside or beside it, or "
               "a --checklist; --torrent and --require-license need the unpacked folder",
               dir);
        json_decref(doc);
        return EXIT_USAGE;
    }
    struct ferry_check_report ar = {0};
    if (archive && checklist && !pubkey && !nca) {
        rc = 0; /* the checklist alone */
    } else if (archive) {
        struct ferry_signature_opts so = {NULL, pubkey, cas, nca};
        struct ferry_signature_report sr;
        rc = ferry_verify_archive(dir, &so, &m, &sr, &ar, &err);
        if (rc == 1) render_signature(&sr, doc);
    } else
        rc = verify_signature(dir, sigfile, pubkey, cas, nca, &m, doc, &err);
    if (rc == 1) { /* verified */
        have_manifest = 1;
        checked = 1;
    } else if (rc < 0) {
        int code = report_error(&err);
        json_object_set_new(doc, "error", json_string(err.cause));
        json_object_set_new(doc, "verified", json_false());
        if (g_opts.json)
            out_json(doc);
        else
            json_decref(doc);
        /* a damaged archive is malformed input; a signature that fails is a failed check */
        return code == 64 || code == 66 || (archive && code == 65) ? code : EXIT_FAIL;
    }
    if (have_manifest && archive) { /* hashed while the archive streamed */
        failed |= print_report("manifest", &ar, 0);
        json_object_set_new(doc, "files", report_json(&ar));
    } else if (have_manifest) {
        struct progress prog;
        progress_start(&prog, "verifying", 0);
        wo.progress = progress_cb;
        wo.progress_ctx = &prog;
        struct ferry_check_report r;
        ferry_error_clear(&err);
        rc = ferry_manifest_check(dir, &m, &wo, &r, &err);
        progress_end(&prog);
        if (rc) {
            report_error(&err);
            failed = 1;
        } else {
            failed |= print_report("manifest", &r, 0);
            json_object_set_new(doc, "files", report_json(&r));
        }
        ferry_check_report_free(&r);
    }
    char auto_list[4096];
    if (!checklist && !have_manifest && S_ISDIR(st.st_mode)) {
        snprintf(auto_list, sizeof(auto_list), "%s/checklist.chk", dir);
        if (access(auto_list, F_OK) != 0)
            snprintf(auto_list, sizeof(auto_list), "%s/SHA256SUMS", dir);
        if (access(auto_list, F_OK) == 0) {
            checklist = auto_list;
            warnf("no signed manifest: %s proves integrity only, not who made the files",
                  auto_list);
        }
    }
    if (checklist) {
        struct ferry_check_report r;
        ferry_error_clear(&err);
        const char *base = S_ISDIR(st.st_mode) ? dir : ".";
        rc = archive ? ferry_checklist_check_archive(dir, checklist, &r, &err)
                     : ferry_checklist_check(base, checklist, wo.threads, &r, &err);
        if (rc) {
            report_error(&err);
            failed = 1;
        } else {
            failed |= print_report(checklist, &r, 0);
            json_object_set_new(doc, "checklist", report_json(&r));
        }
        ferry_check_report_free(&r);
        checked = 1;
    }
    if (torrent) {
        if (!have_manifest) {
            errorf("--torrent needs a signed manifest to compare the torrent's file roots with");
            failed = 1;
        } else {
            struct ferry_check_report r;
            ferry_error_clear(&err);
            if (ferry_torrent_check(torrent, &m, &r, &err)) {
                report_error(&err);
                failed = 1;
            } else {
                failed |= print_report(torrent, &r, 1);
                json_object_set_new(doc, "torrent", report_json(&r));
            }
            ferry_check_report_free(&r);
        }
    }
    if (require_license) {
        if (!have_manifest) {
            errorf("--require-license needs a signed manifest");
            failed = 1;
        } else if (verify_license(dir, &m,
                                  &(struct ferry_license_opts){.trust = trust, .ntrust = ntrust},
                                  doc) != 0) {
            failed = 1;
        }
    }
    ferry_check_report_free(&ar);
    if (!checked) {
        errorf("%s: nothing to verify against (no model.sig, model.manifest.json.minisig, "
               "checklist.chk or SHA256SUMS)",
               dir);
        failed = 1;
    }
    json_object_set_new(doc, "verified", json_boolean(!failed));
    if (g_opts.json)
        out_json(doc);
    else
        json_decref(doc);
    ferry_manifest_free(&m);
    return failed ? EXIT_FAIL : EXIT_OK;
}
