/* Showing and accepting license texts on the command line (see license_prompt.c). */
#ifndef FERRY_CLI_LICENSE_PROMPT_H
#define FERRY_CLI_LICENSE_PROMPT_H

#include "ferry/license.h"
#include "ferry/manifest.h"
#include "ferry/verify.h"

/* Checks each license and use-policy text against the manifest and, with print_body, prints
 * it with its SHA-256. EXIT_OK or EXIT_FAIL (message printed). */
int license_show(const char *dir, const struct ferry_manifest *m, int print_body);
/* Records an acceptance (ferry_license_accept) given by flag (the text's SHA-256 or a prefix)
 * or, without one, typed as I ACCEPT on a terminal after the texts are shown. An exit code. */
int license_accept_ui(const char *dir, const struct ferry_manifest *m, const char *flag,
                      struct ferry_acceptor *who, int store_in_model,
                      const struct ferry_license_opts *lo);

#endif
