/* libFuzzer target for what signing reads from strangers: the first byte picks the reader, the
 * rest is the file. 0: model.manifest.json (in-toto statement), 1: model.sig (OMS bundle with
 * DSSE envelope and certificates), 2: model.manifest.json.minisig beside a valid manifest, 3: a
 * minisign public key, 4: a checklist (SHA256SUMS), 5: a license acceptance record. A clean
 * error or a result, never a crash. Built with -DFUZZ_ONLY=K the reader is fixed and every byte
 * is the file (fuzz_manifest, fuzz_oms_bundle, fuzz_minisig, fuzz_minisign_key, fuzz_checklist,
 * fuzz_license_record). Build with -DFERRY_FUZZ=ON (clang). */
#define _GNU_SOURCE
#include "ferry/checklist.h"
#include "ferry/manifest.h"
#include "ferry/verify.h"
#include "fuzz_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

/* A small signed-looking model folder: one file and a manifest naming it. */
static const char manifest_json[] =
    "{\"_type\": \"https://in-toto.io/Statement/v1\", \"subject\": [{\"name\": \"m\", \"digest\": "
    "{\"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}}], "
    "\"predicateType\": \"https://model_signing/signature/v1.0\", \"predicate\": "
    "{\"serialization\": "
    "{\"method\": \"files\", \"hash_type\": \"sha256\", \"allow_symlinks\": false, "
    "\"ignore_paths\": "
    "[]}, \"resources\": [{\"name\": \"a.bin\", \"algorithm\": \"sha256\", \"digest\": "
    "\"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\"}]}}";

static void clear(void)
{
    static const char *names[] = {"model.manifest.json", "model.sig", "model.manifest.json.minisig",
                                  "SHA256SUMS", "record.json"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) fuzz_drop(names[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir) {
        dir = fuzz_dir("signing");
        fuzz_put("a.bin", (const uint8_t *)"a", 1);
        char lic[128];
        snprintf(lic, sizeof(lic), "%s/licenses", dir);
        setenv("XDG_DATA_HOME", dir, 1);
    }
#ifdef FUZZ_ONLY
    int which = FUZZ_ONLY;
    const uint8_t *d = data;
    size_t n = size;
#else
    if (size < 1) return 0;
    int which = data[0] % 6;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
#endif
    clear();
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_manifest m;
    struct ferry_signature_report sr;
    struct ferry_signature_opts so = {
        .pubkey = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"};
    char *text = NULL;
    switch (which) {
    case 0:
        text = strndup((const char *)d, n);
        if (text && ferry_manifest_parse(text, n, "fuzz", &m, &err) == 0) {
            free(ferry_manifest_to_json(&m));
            ferry_manifest_free(&m);
        }
        break;
    case 1:
        fuzz_put("model.sig", d, n);
        so.pubkey = NULL;
        if (ferry_verify_signature(dir, &so, &m, &sr, &err) == 1) ferry_manifest_free(&m);
        break;
    case 2:
        fuzz_put("model.manifest.json", (const uint8_t *)manifest_json, sizeof(manifest_json) - 1);
        fuzz_put("model.manifest.json.minisig", d, n);
        if (ferry_verify_signature(dir, &so, &m, &sr, &err) == 1) ferry_manifest_free(&m);
        break;
    case 3:
        fuzz_put("model.manifest.json", (const uint8_t *)manifest_json, sizeof(manifest_json) - 1);
        fuzz_put("model.manifest.json.minisig", (const uint8_t *)"untrusted comment: x\nRWQ\n", 26);
        text = strndup((const char *)d, n);
        so.pubkey = text;
        if (text && ferry_verify_signature(dir, &so, &m, &sr, &err) == 1) ferry_manifest_free(&m);
        break;
    case 4: {
        fuzz_put("SHA256SUMS", d, n);
        char list[128];
        snprintf(list, sizeof(list), "%s/SHA256SUMS", dir);
        struct ferry_check_report r;
        if (ferry_checklist_check(dir, list, 1, &r, &err) == 0) ferry_check_report_free(&r);
        break;
    }
    case 5: {
        char ldir[128];
        snprintf(ldir, sizeof(ldir), "%s/ferry", dir);
        mkdir(ldir, 0700);
        snprintf(ldir, sizeof(ldir), "%s/ferry/licenses", dir);
        mkdir(ldir, 0700);
        char rec[192];
        snprintf(rec, sizeof(rec), "%s/fuzz.dsse.json", ldir);
        FILE *f = fopen(rec, "wb");
        if (f) {
            if (n) fwrite(d, 1, n, f);
            fclose(f);
        }
        text = strndup(manifest_json, sizeof(manifest_json) - 1);
        if (text && ferry_manifest_parse(text, strlen(text), "fuzz", &m, &err) == 0) {
            struct ferry_license_report lr;
            if (ferry_license_status(dir, &m, NULL, &lr, &err) == 0) ferry_license_report_free(&lr);
            ferry_manifest_free(&m);
        }
        unlink(rec);
        break;
    }
    }
    free(text);
    return 0;
}
