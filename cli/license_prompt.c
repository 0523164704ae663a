/* The license texts as a user meets them: shown with their hashes after checking them against
 * the manifest, and accepted by flag or by typing I ACCEPT on a terminal. Used by `ferry
 * license` and by `ferry fetch --manifest` when the library reports that acceptance is needed. */
#define _GNU_SOURCE
#include "license_prompt.h"
#include "commands.h"
#include "output.h"
#include "ferry/file.h"
#include "ferry/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The signed text must still be the file's content: checked before it is shown. */
static char *read_text(const char *dir, const struct ferry_resource *r, size_t *len)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    char *text = NULL;
    if (ferry_license_text_read(dir, r, &text, len, &err)) report_error(&err);
    return text;
}

/* The manifest's LICENSE and use policies; EXIT_FAIL (said) when it names no LICENSE. */
static int texts(const char *dir, const struct ferry_manifest *m, const struct ferry_resource **lic,
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
    if (*lic) return EXIT_OK;
    errorf("%s: the manifest names no LICENSE file", dir);
    return EXIT_FAIL;
}

int license_show(const char *dir, const struct ferry_manifest *m, int print_body)
{
    const struct ferry_resource *lic, *pol[8];
    size_t npol;
    if (texts(dir, m, &lic, pol, &npol)) return EXIT_FAIL;
    const struct ferry_resource *all[9] = {lic};
    for (size_t i = 0; i < npol; i++) all[i + 1] = pol[i];
    FILE *out = print_body ? pager_open() : stdout;
    for (size_t i = 0; i <= npol; i++) {
        size_t len;
        char *t = read_text(dir, all[i], &len), hex[65];
        if (!t) {
            pager_close(out);
            return EXIT_FAIL;
        }
        ferry_hex(all[i]->sha256, 32, hex);
        if (print_body) {
            fprintf(out, "==> %s (%s, %zu bytes, sha256 %s)%s <==\n", all[i]->name, all[i]->role,
                    len, hex, all[i]->requires_acceptance ? ", acceptance required" : "");
            fwrite(t, 1, len, out);
            if (len && t[len - 1] != '\n') fputc('\n', out);
            fputc('\n', out);
        }
        free(t);
    }
    char hex[65];
    ferry_hex(lic->sha256, 32, hex);
    if (print_body)
        fprintf(out, "To accept: ferry license accept %s --accept-license=%s\n", dir, hex);
    if (print_body) pager_close(out);
    return EXIT_OK;
}

int license_accept_ui(const char *dir, const struct ferry_manifest *m, const char *flag,
                      struct ferry_acceptor *who, int store_in_model,
                      const struct ferry_license_opts *lo)
{
    const struct ferry_resource *lic, *pol[8];
    size_t npol;
    if (texts(dir, m, &lic, pol, &npol)) return EXIT_FAIL;
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
        if (license_show(dir, m, 0) != EXIT_OK) return EXIT_FAIL;
        snprintf(method, sizeof(method), "flag:--accept-license");
    } else {
        if (!isatty(0) || !isatty(1)) {
            errorf("no terminal to show the license on: read it with 'ferry license show' and "
                   "pass --accept-license=SHA256");
            return EXIT_USAGE;
        }
        if (license_show(dir, m, 1) != EXIT_OK) return EXIT_FAIL;
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
