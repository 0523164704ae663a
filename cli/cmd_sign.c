/* ferry sign DIR --key KEY: hash the model, write its OMS statement and sign it, with a
 * minisign Ed25519 key (model.manifest.json + .minisig) or an ECDSA key (model.sig bundle). */
#define _GNU_SOURCE
#include "commands.h"
#include "output.h"
#include "password.h"
#include "progress.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/manifest.h"
#include "ferry/sign.h"
#include "ferry/verify.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry sign DIR --key KEY [--ignore PATH]... [--license-id ID]\n"
    "                  [--require-acceptance] [--password-file F] [--threads N] [--force]\n\n"
    "Hashes every file of the model (SHA-256 and the BitTorrent v2 root) and signs the\n"
    "OpenSSF Model Signing statement. With a minisign key (ferry keygen) it writes\n"
    "model.manifest.json and model.manifest.json.minisig; with an ECDSA PEM key it writes\n"
    "the Sigstore bundle model.sig. A single file FILE gives FILE.manifest.json[.minisig]\n"
    "or FILE.sig beside it.\n\n"
    "  --ignore PATH          leave PATH (relative to DIR) out of the manifest\n"
    "  --license-id ID        license identifier recorded on LICENSE* files\n"
    "  --require-acceptance   mark LICENSE* and USE_POLICY* as needing recorded acceptance\n"
    "  --key KEY              minisign secret key (ferry keygen) or ECDSA private key PEM\n"
    "  --password-file F      the key's password from F's first line, not the terminal\n"
    "  --threads N            hashing threads (default: all cores)\n"
    "  --force                replace an existing signature\n"
    "  --json                 print the result (files, bytes, root, signature) as JSON\n";

int cmd_sign(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"key", required_argument, NULL, 'k'},
        {"ignore", required_argument, NULL, 'i'},
        {"license-id", required_argument, NULL, 'l'},
        {"require-acceptance", no_argument, NULL, 'r'},
        {"password-file", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *key = NULL, *pwfile = NULL, *ignore[256];
    struct ferry_walk_opts wo = {.btv2 = 1, .ignore = ignore};
    int force = 0, c;
    uint64_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': key = optarg; break;
        case 'i':
            if (wo.nignore == 256) return EXIT_USAGE;
            ignore[wo.nignore++] = optarg;
            break;
        case 'l': wo.license_id = optarg; break;
        case 'r': wo.require_acceptance = 1; break;
        case 'p': pwfile = optarg; break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 1024, &v)) return EXIT_USAGE;
            wo.threads = (unsigned)v;
            break;
        case 'f': force = 1; break;
        case 'j': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!key || optind != argc - 1) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *dir = argv[optind];
    struct ferry_error err;
    ferry_error_clear(&err);
    /* the password is asked for here; everything else is ferry_sign_model */
    char pw[1024] = "";
    int enc = ferry_sign_key_is_minisign(key) ? ferry_minisign_key_encrypted(key, &err) : 0;
    if (enc < 0) return report_error(&err);
    if (enc && pwfile && read_password_file(pwfile, pw, sizeof(pw))) {
        errorf("%s: cannot read the password file", pwfile);
        return EXIT_NOINPUT;
    }
    if (enc && !pwfile && read_password_tty("Password for the secret key: ", pw, sizeof(pw))) {
        errorf("%s: the key is encrypted; give --password-file or run on a terminal", key);
        return EXIT_USAGE;
    }
    struct progress prog;
    progress_start(&prog, "hashing", 0);
    wo.progress = progress_cb;
    wo.progress_ctx = &prog;
    struct ferry_sign_opts so = {
        .key = key, .password = enc ? pw : NULL, .force = force, .walk = wo};
    struct ferry_sign_result r;
    int rc = ferry_sign_model(dir, &so, &r, &err);
    ferry_wipe(pw, sizeof(pw));
    progress_end(&prog);
    if (rc) return report_error(&err);
    char root[65];
    ferry_hex(r.root, 32, root);
    if (g_opts.json) {
        json_t *o =
            json_pack("{s:s, s:s, s:I, s:I, s:s}", "signature", r.signature, "root", root, "files",
                      (json_int_t)r.files, "bytes", (json_int_t)r.bytes, "method", r.method);
        if (!strcmp(r.method, "minisign"))
            json_object_set_new(o, "manifest", json_string(r.manifest));
        out_json(o);
    } else
        notef("signed %zu files (%llu bytes), root sha256:%s -> %s", r.files,
              (unsigned long long)r.bytes, root, r.signature);
    return EXIT_OK;
}
