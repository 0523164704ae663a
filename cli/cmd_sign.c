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

#include <getopt.h>
#include <sodium.h>
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
    "  --require-acceptance   mark LICENSE* and USE_POLICY* as needing recorded acceptance\n";

static int is_minisign_key(const char *path)
{
    FILE *f = fopen(path, "r");
    char head[32] = "";
    if (f) {
        if (!fgets(head, sizeof(head), f)) head[0] = 0;
        fclose(f);
    }
    return !strncmp(head, "untrusted comment:", 18);
}

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
    struct stat st;
    if (stat(dir, &st) != 0) {
        errorf("%s: not found", dir);
        return EXIT_NOINPUT;
    }
    int isdir = S_ISDIR(st.st_mode), minisign = is_minisign_key(key);
    char manifest_path[4096], sig_path[4200];
    if (minisign) {
        snprintf(manifest_path, sizeof(manifest_path),
                 isdir ? "%s/model.manifest.json" : "%s.manifest.json", dir);
        snprintf(sig_path, sizeof(sig_path), "%s.minisig", manifest_path);
    } else {
        snprintf(sig_path, sizeof(sig_path), isdir ? "%s/model.sig" : "%s.sig", dir);
    }
    if (!force && (access(sig_path, F_OK) == 0 || (minisign && access(manifest_path, F_OK) == 0))) {
        errorf("%s: signature exists (use --force to replace it)", sig_path);
        return EXIT_CANTCREAT;
    }
    struct ferry_error err;
    ferry_error_clear(&err);
    /* load (and unlock) the key before hashing, so a wrong password fails fast */
    struct ferry_minisign_key mk;
    int rc = 0;
    if (minisign) {
        char pw[1024] = "";
        int enc = ferry_minisign_key_encrypted(key, &err);
        if (enc < 0) return report_error(&err);
        if (enc && pwfile && read_password_file(pwfile, pw, sizeof(pw))) {
            errorf("%s: cannot read the password file", pwfile);
            return EXIT_NOINPUT;
        }
        if (enc && !pwfile && read_password_tty("Password for the secret key: ", pw, sizeof(pw))) {
            errorf("%s: the key is encrypted; give --password-file or run on a terminal", key);
            return EXIT_USAGE;
        }
        rc = ferry_minisign_load_key(key, enc ? pw : NULL, &mk, &err);
        sodium_memzero(pw, sizeof(pw));
        if (rc) return report_error(&err);
    }
    struct progress prog;
    progress_start(&prog, "hashing", 0);
    wo.progress = progress_cb;
    wo.progress_ctx = &prog;
    struct ferry_manifest m;
    rc = ferry_manifest_build(dir, &wo, &m, &err);
    progress_end(&prog);
    if (rc) {
        sodium_memzero(&mk, sizeof(mk));
        return report_error(&err);
    }
    char *json = ferry_manifest_to_json(&m);
    size_t jl = json ? strlen(json) : 0;
    if (!json) rc = ferry_error_set(&err, FERRY_EINTERNAL, dir, FERRY_NO_OFFSET, NULL, "oom");
    if (!rc && minisign) {
        struct ferry_out o;
        if (!(rc = ferry_out_open(&o, manifest_path, force, &err))) {
            if (!(rc = ferry_out_write(&o, json, jl, &err)) &&
                !(rc = ferry_out_write(&o, "\n", 1, &err)))
                rc = ferry_out_commit(&o, &err);
            if (rc) ferry_out_abort(&o);
        }
        char tc[4400];
        const char *base =
            strrchr(manifest_path, '/') ? strrchr(manifest_path, '/') + 1 : manifest_path;
        snprintf(tc, sizeof(tc), "timestamp:%lld\tfile:%s\thashed", (long long)time(NULL), base);
        if (!rc) rc = ferry_minisign_sign_file(&mk, manifest_path, sig_path, tc, force, &err);
    } else if (!rc) {
        rc = ferry_oms_sign(key, (const uint8_t *)json, jl, sig_path, force, &err);
    }
    sodium_memzero(&mk, sizeof(mk));
    int code = rc ? report_error(&err) : EXIT_OK;
    if (!rc) {
        char root[65];
        uint64_t bytes = 0;
        for (size_t i = 0; i < m.nres; i++) bytes += m.res[i].size;
        ferry_hex(m.root, 32, root);
        if (g_opts.json) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "signature", sig_path, "root", root,
                                  "files", (json_int_t)m.nres, "bytes", (json_int_t)bytes, "method",
                                  minisign ? "minisign" : "oms-bundle");
            if (minisign) json_object_set_new(o, "manifest", json_string(manifest_path));
            out_json(o);
        } else
            notef("signed %zu files (%llu bytes), root sha256:%s -> %s", m.nres,
                  (unsigned long long)bytes, root, sig_path);
    }
    free(json);
    ferry_manifest_free(&m);
    return code;
}
