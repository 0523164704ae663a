/* ferry keygen [--type ed25519|p256|p384|p521] -o NAME: signing keys. Ed25519 keys are
 * minisign's NAME.key/NAME.pub; ECDSA keys are NAME.pem (PKCS#8) and NAME.pub.pem. */
#include "commands.h"
#include "output.h"
#include "password.h"
#include "ferry/sign.h"
#include "ferry/verify.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry keygen [--type ed25519|p256|p384|p521] -o NAME [--no-password]\n"
    "                    [--password-file F] [--force]\n\n"
    "  --type T            ed25519 (default; minisign NAME.key + NAME.pub), or an ECDSA curve\n"
    "                      for OpenSSF Model Signing bundles (NAME.pem + NAME.pub.pem)\n"
    "  -o, --output NAME   path prefix of the key files\n"
    "  --no-password       write the Ed25519 secret key unencrypted\n"
    "  --password-file F   read the password from F's first line instead of the terminal\n"
    "  --force             overwrite existing key files\n";

int cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"no-password", no_argument, NULL, 'n'},
        {"password-file", required_argument, NULL, 'p'},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *type = "ed25519", *out = NULL, *pwfile = NULL;
    int nopw = 0, force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:t:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 't': type = optarg; break;
        case 'o': out = optarg; break;
        case 'n': nopw = 1; break;
        case 'p': pwfile = optarg; break;
        case 'f': force = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!out || optind != argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    struct ferry_error err;
    ferry_error_clear(&err);
    int rc;
    if (!strcmp(type, "ed25519")) {
        char pw[1024] = "", again[1024] = "";
        if (!nopw && pwfile) {
            if (read_password_file(pwfile, pw, sizeof(pw))) {
                errorf("%s: cannot read the password file", pwfile);
                return EXIT_NOINPUT;
            }
        } else if (!nopw && isatty(0)) {
            if (read_password_tty("Password for the new key: ", pw, sizeof(pw)) ||
                read_password_tty("Password (again): ", again, sizeof(again)) ||
                strcmp(pw, again)) {
                errorf("passwords differ or could not be read");
                return EXIT_USAGE;
            }
        } else if (!nopw) {
            /* as minisign -G without -W: an unencrypted secret key only when asked for */
            errorf("no terminal to ask for a password: give --password-file F, or --no-password "
                   "for an unencrypted secret key");
            return EXIT_USAGE;
        }
        char id[17];
        rc = ferry_minisign_keygen(out, pw, force, id, &err);
        ferry_wipe(pw, sizeof(pw));
        ferry_wipe(again, sizeof(again));
        if (!rc) notef("wrote %s.key and %s.pub (minisign key id %s)", out, out, id);
    } else if (!strcmp(type, "p256") || !strcmp(type, "p384") || !strcmp(type, "p521")) {
        const char *curve = !strcmp(type, "p256")   ? "P-256"
                            : !strcmp(type, "p384") ? "P-384"
                                                    : "P-521";
        rc = ferry_ec_keygen(out, curve, force, &err);
        if (!rc) notef("wrote %s.pem and %s.pub.pem (ECDSA %s)", out, out, curve);
    } else {
        errorf("--type must be ed25519, p256, p384 or p521");
        return EXIT_USAGE;
    }
    return rc ? report_error(&err) : EXIT_OK;
}
