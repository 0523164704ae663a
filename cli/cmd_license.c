/* ferry license show|accept|status DIR: the license texts of a model with their SHA-256,
 * signed acceptance records, and whether one covers the texts the manifest requires. */
#define _GNU_SOURCE
#include "commands.h"
#include "output.h"
#include "verify_common.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/license.h"
#include "ferry/manifest.h"

#include <openssl/evp.h>

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
        return 66;
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

/* The signed text must still be the file's content: hash it again before showing. */
static char *read_text(const char *dir, const struct ferry_resource *r, size_t *len)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, r->name) < 0) return NULL;
    struct ferry_map map;
    struct ferry_error err;
    ferry_error_clear(&err);
    char *out = NULL;
    if (ferry_map_open(&map, path, &err) == 0) {
        uint8_t h[32];
        unsigned hl;
        EVP_Digest(map.data ? map.data : (const uint8_t *)"", (size_t)map.size, h, &hl,
                   EVP_sha256(), NULL);
        if (memcmp(h, r->sha256, 32) == 0 && (out = malloc((size_t)map.size + 1))) {
            memcpy(out, map.data, (size_t)map.size);
            out[map.size] = 0;
            *len = (size_t)map.size;
        } else if (!out)
            errorf("%s: does not match the signed manifest (text changed)", path);
        ferry_map_close(&map);
    } else
        report_error(&err);
    free(path);
    return out;
}

static void texts(const struct ferry_manifest *m, const struct ferry_resource **lic,
                  const struct ferry_resource **pol, size_t *npol)
{
    *lic = NULL;
    *npol = 0;
    for (size_t i = 0; i < m->nres; i++) {
        if (!strcmp(m->res[i].role, "license") && !*lic)
            *lic = &m->res[i];
        else if (!strcmp(m->res[i].role, "use-policy") && *npol < 8)
            pol[(*npol)++] = &m->res[i];
    }
}

static int show(const char *dir, const struct ferry_manifest *m, int print_body)
{
    const struct ferry_resource *lic, *pol[8];
    size_t npol;
    texts(m, &lic, pol, &npol);
    if (!lic) {
        errorf("%s: the manifest names no LICENSE file", dir);
        return EXIT_FAIL;
    }
    const struct ferry_resource *all[9] = {lic};
    for (size_t i = 0; i < npol; i++) all[i + 1] = pol[i];
    for (size_t i = 0; i <= npol; i++) {
        size_t len;
        char *t = read_text(dir, all[i], &len), hex[65];
        if (!t) return EXIT_FAIL;
        ferry_hex(all[i]->sha256, 32, hex);
        if (print_body) {
            printf("==> %s (%s, %zu bytes, sha256 %s)%s <==\n", all[i]->name, all[i]->role, len,
                   hex, all[i]->requires_acceptance ? ", acceptance required" : "");
            fwrite(t, 1, len, stdout);
            if (len && t[len - 1] != '\n') putchar('\n');
            putchar('\n');
        }
        free(t);
    }
    char hex[65];
    ferry_hex(lic->sha256, 32, hex);
    if (print_body) printf("To accept: ferry license accept %s --accept-license=%s\n", dir, hex);
    return EXIT_OK;
}

static int accept_license(const char *dir, const struct ferry_manifest *m, const char *flag,
                          struct ferry_acceptor *who, int store_in_model,
                          const struct ferry_license_opts *lo)
{
    const struct ferry_resource *lic, *pol[8];
    size_t npol;
    texts(m, &lic, pol, &npol);
    if (!lic) {
        errorf("%s: the manifest names no LICENSE file", dir);
        return EXIT_FAIL;
    }
    char hex[65], method[64];
    ferry_hex(lic->sha256, 32, hex);
    if (flag) {
        size_t fl = strlen(flag);
        if (fl < 16 || fl > 64 || strspn(flag, "0123456789abcdef") != fl) {
            errorf(
                "--accept-license needs the license's SHA-256 (at least 16 lowercase hex digits)");
            return EXIT_USAGE;
        }
        if (strncmp(hex, flag, fl) != 0) {
            errorf("%s: the license text has sha256 %s; --accept-license=%s names another text "
                   "(read it with 'ferry license show')",
                   lic->name, hex, flag);
            return EXIT_FAIL;
        }
        if (show(dir, m, 0) != EXIT_OK) return EXIT_FAIL;
        snprintf(method, sizeof(method), "flag:--accept-license");
    } else {
        if (!isatty(0) || !isatty(1)) {
            errorf("no terminal to show the license on: read it with 'ferry license show' and "
                   "pass --accept-license=SHA256");
            return EXIT_USAGE;
        }
        if (show(dir, m, 1) != EXIT_OK) return EXIT_FAIL;
        printf("Type I ACCEPT to accept %s (sha256 %s)%s: ", lic->name, hex,
               npol ? " and the use policy above" : "");
        fflush(stdout);
        char line[64] = "";
        if (!fgets(line, sizeof(line), stdin) || strcmp(line, "I ACCEPT\n") != 0) {
            errorf("not accepted");
            return EXIT_FAIL;
        }
        snprintf(method, sizeof(method), "interactive-typed-confirmation");
    }
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_license_recorded rec;
    if (ferry_license_accept(dir, m, who, method, store_in_model, lo, &rec, &err))
        return report_error(&err);
    notef("recorded acceptance of %s (sha256 %s) by %s%s%s, key %s -> %s", lic->name, hex,
          who->name ? who->name : "?", who->on_behalf_of ? " on behalf of " : "",
          who->on_behalf_of ? who->on_behalf_of : "", rec.key_id, rec.path);
    return EXIT_OK;
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
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
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
        code = show(dir, &m, 1);
    } else if (!strcmp(sub, "accept")) {
        struct passwd *pw = getpwuid(getuid());
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        who.os_user = pw ? pw->pw_name : NULL;
        who.host = host;
        if (!who.name) who.name = who.os_user;
        code = accept_license(dir, &m, flag, &who, store, &lo);
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
