/* ferry license show|accept|status DIR: the license texts of a model with their SHA-256,
 * signed acceptance records, and whether one covers the texts the manifest requires. */
#define _GNU_SOURCE
#include "commands.h"
#include "output.h"
#include "verify_common.h"
#include "license_prompt.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/license.h"
#include "ferry/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry license show DIR [--pubkey K] [--cert-chain PEM]\n"
    "       ferry license accept DIR [--accept-license=SHA256] [--name N] [--email E]\n"
    "                                [--on-behalf-of ORG] [--store-in-model] [--pubkey K]\n"
    "       ferry license status DIR [--pubkey K] [--trust-acceptor KEY.pub]... [--json]\n\n"
    "show prints the license and use-policy texts named by the model's manifest with their\n"
    "SHA-256. accept records a signed acceptance after you type I ACCEPT on a terminal, or\n"
    "non-interactively with --accept-license naming the license text's SHA-256 (or a unique\n"
    "prefix of at least 16 hex digits). Records live in $XDG_DATA_HOME/ferry/licenses/ and,\n"
    "with --store-in-model, in DIR/license-acceptance.dsse.json; the signing key is made on\n"
    "first use in $XDG_CONFIG_HOME/ferry/. status exits 0 only when a record covers every\n"
    "text the manifest marks as requiring acceptance, names this model's manifest root, and\n"
    "was signed by a trusted key: your own acceptance key, or a minisign public key given\n"
    "with --trust-acceptor (a colleague's or your team's). It lists every record it finds\n"
    "with who accepted, the key, and why a record does not count.\n";

/* The verified manifest, or one built from the files when the model is unsigned. */
static int load_manifest(const char *dir, const char *pubkey, const char *const *cas, size_t nca,
                         struct ferry_manifest *m)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        errorf("%s: not a model directory", dir);
        return EXIT_NOINPUT;
    }
    struct ferry_error err;
    ferry_error_clear(&err);
    json_t *doc = json_object();
    int rc = verify_signature(dir, NULL, pubkey, cas, nca, m, doc, &err);
    json_decref(doc);
    if (rc < 0) return report_error(&err); /* 64 when the signature needs a key not given */
    if (rc == 0) {
        warnf("%s is not signed: the license texts are hashed from the files as they are", dir);
        struct ferry_walk_opts wo = {0};
        if (ferry_manifest_build(dir, &wo, m, &err)) return report_error(&err);
        for (size_t i = 0; i < m->nres; i++)
            if (!strcmp(m->res[i].role, "license") || !strcmp(m->res[i].role, "use-policy"))
                m->res[i].requires_acceptance = 1;
    }
    return 0;
}

int cmd_license(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pubkey", required_argument, NULL, 'k'},
        {"cert-chain", required_argument, NULL, 'c'},
        {"accept-license", required_argument, NULL, 'a'},
        {"name", required_argument, NULL, 'n'},
        {"email", required_argument, NULL, 'e'},
        {"on-behalf-of", required_argument, NULL, 'o'},
        {"store-in-model", no_argument, NULL, 's'},
        {"trust-acceptor", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1], *pubkey = NULL, *flag = NULL, *cas[16], *trust[16];
    size_t nca = 0, ntrust = 0;
    int store = 0, c;
    struct ferry_acceptor who = {0};
    optind = 2;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': pubkey = optarg; break;
        case 'c':
            if (nca < 16) cas[nca++] = optarg;
            break;
        case 'a': flag = optarg; break;
        case 'n': who.name = optarg; break;
        case 'e': who.email = optarg; break;
        case 'o': who.on_behalf_of = optarg; break;
        case 's': store = 1; break;
        case 'T':
            if (ntrust == 16) return EXIT_USAGE;
            trust[ntrust++] = optarg;
            break;
        case 'j': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 ||
        (strcmp(sub, "show") && strcmp(sub, "accept") && strcmp(sub, "status"))) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *dir = argv[optind];
    struct ferry_license_opts lo = {.trust = trust, .ntrust = ntrust};
    struct ferry_manifest m = {0};
    int code = load_manifest(dir, pubkey, cas, nca, &m);
    if (code) return code;
    if (!strcmp(sub, "show")) {
        code = license_show(dir, &m, 1);
    } else if (!strcmp(sub, "accept")) {
        struct passwd *pw = getpwuid(getuid());
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        who.os_user = pw ? pw->pw_name : NULL;
        who.host = host;
        if (!who.name) who.name = who.os_user;
        code = license_accept_ui(dir, &m, flag, &who, store, &lo);
    } else {
        json_t *doc = json_object();
        code = verify_license(dir, &m, &lo, doc) ? EXIT_FAIL : EXIT_OK;
        json_object_set_new(doc, "accepted", json_boolean(code == EXIT_OK));
        if (g_opts.json)
            out_json(doc);
        else
            json_decref(doc);
    }
    ferry_manifest_free(&m);
    return code;
}
