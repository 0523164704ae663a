/* minisign keys and signatures (Ed25519 over the BLAKE2b-512 prehash, "ED"), compatible with
 * the minisign program both ways. Layouts: public key "Ed"|keynum|pk; secret key
 * "Ed"|kdf|"B2"|salt|opslimit|memlimit|{keynum|sk|chk} with the braces XORed by scrypt output
 * when encrypted; signature "ED"|keynum|sig plus a global signature over sig|trusted comment. */
#define _GNU_SOURCE
#include "ferry/codec.h"
#include "ferry/sign.h"
#include "ferry/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SK_LEN  158
#define PK_LEN  42
#define SIG_LEN 74

void ferry_minisign_key_id(const uint8_t keynum[8], char out[17])
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | keynum[i];
    snprintf(out, 17, "%016llX", (unsigned long long)v);
}

static int b64dec(const char *s, size_t slen, uint8_t *out, size_t want)
{
    size_t got;
    const char *end;
    if (sodium_base642bin(out, want, s, slen, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
        0)
        return -1;
    return got == want && end == s + slen ? 0 : -1;
}

/* Reads a small text file into lines (at most 4), trimming one '\n' then one '\r'. */
static int read_lines(const char *path, char *buf, size_t cap, char *lines[4], int *n,
                      struct ferry_error *err)
{
    FILE *f = ferry_fopen_regular(path, err);
    if (!f) return err ? err->code : FERRY_EIO;
    size_t len = fread(buf, 1, cap - 1, f);
    int toolong = !feof(f);
    fclose(f);
    if (toolong)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "file too large");
    buf[len] = 0;
    if (strlen(buf) != len)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "contains NUL bytes");
    *n = 0;
    char *p = buf;
    while (*p && *n < 4) {
        lines[(*n)++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        if (nl > p && nl[-1] == '\r') nl[-1] = 0;
        p = nl + 1;
    }
    return 0;
}

static int write_text(const char *path, const char *text, int force, mode_t mode,
                      struct ferry_error *err)
{
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, force, err);
    if (rc) return rc;
    if (mode != 0644) fchmod(fileno(o.fp), mode);
    if (!(rc = ferry_out_write(&o, text, strlen(text), err))) rc = ferry_out_commit(&o, err);
    if (rc) ferry_out_abort(&o);
    return rc;
}

static void checksum(const uint8_t keynum[8], const uint8_t sk[64], uint8_t chk[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"Ed", 2);
    crypto_generichash_update(&st, keynum, 8);
    crypto_generichash_update(&st, sk, 64);
    crypto_generichash_final(&st, chk, 32);
}

static int kdf_xor(uint8_t *data, size_t n, const char *pw, const uint8_t salt[32], uint64_t ops,
                   uint64_t mem)
{
    uint8_t *stream = sodium_malloc(n);
    if (!stream) return -1;
    int rc = crypto_pwhash_scryptsalsa208sha256(stream, n, pw, strlen(pw), salt, ops, (size_t)mem);
    if (!rc)
        for (size_t i = 0; i < n; i++) data[i] ^= stream[i];
    sodium_free(stream);
    return rc;
}

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

int ferry_minisign_keygen(const char *name, const char *password, int force, char key_id_out[17],
                          struct ferry_error *err)
{
    if (sodium_init() < 0)
        return ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL, "libsodium init");
    uint8_t pk[32], *sec = sodium_malloc(SK_LEN), pkb[PK_LEN];
    if (!sec) return ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL, "oom");
    int enc = password && password[0];
    uint8_t *keynum = sec + 54, *sk = sec + 62, *chk = sec + 126;
    memcpy(sec, "Ed", 2);
    memcpy(sec + 2, enc ? "Sc" : "\0\0", 2);
    memcpy(sec + 4, "B2", 2);
    randombytes_buf(sec + 6, 32);
    put_u64(sec + 38, enc ? crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE : 0);
    put_u64(sec + 46, enc ? crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE : 0);
    randombytes_buf(keynum, 8);
    crypto_sign_keypair(pk, sk);
    checksum(keynum, sk, chk);
    memcpy(pkb, "Ed", 2);
    memcpy(pkb + 2, keynum, 8);
    memcpy(pkb + 10, pk, 32);
    ferry_minisign_key_id(keynum, key_id_out);
    int rc = 0;
    if (enc && kdf_xor(keynum, 104, password, sec + 6, get_u64(sec + 38), get_u64(sec + 46)))
        rc = ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL,
                             "key derivation failed (out of memory?)");
    char *sb = rc ? NULL : ferry_base64_encode(sec, SK_LEN), *pb = ferry_base64_encode(pkb, PK_LEN);
    sodium_free(sec);
    char *text = NULL, path[4096];
    if (!rc && (!sb || !pb))
        rc = ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL, "oom");
    /* refuse before writing either file, so a refusal never leaves half a key pair */
    const char *suffixes[2] = {".pub", ".key"};
    for (int i = 0; i < 2 && !rc && !force; i++) {
        snprintf(path, sizeof(path), "%s%s", name, suffixes[i]);
        if (access(path, F_OK) == 0)
            rc = ferry_error_set(err, FERRY_ECANTCREAT, path, FERRY_NO_OFFSET, NULL,
                                 "exists (use --force to overwrite)");
    }
    if (!rc && asprintf(&text, "untrusted comment: minisign %ssecret key\n%s\n",
                        enc ? "encrypted " : "", sb) > 0) {
        snprintf(path, sizeof(path), "%s.key", name);
        rc = write_text(path, text, force, 0600, err);
        sodium_memzero(text, strlen(text));
        free(text);
        text = NULL;
    }
    if (!rc &&
        asprintf(&text, "untrusted comment: minisign public key %s\n%s\n", key_id_out, pb) > 0) {
        snprintf(path, sizeof(path), "%s.pub", name);
        rc = write_text(path, text, force, 0644, err);
        free(text);
    }
    if (sb) sodium_memzero(sb, strlen(sb));
    free(sb);
    free(pb);
    return rc;
}

int ferry_minisign_parse_pub(const char *b64, struct ferry_minisign_pub *pub,
                             struct ferry_error *err)
{
    uint8_t b[PK_LEN];
    if (b64dec(b64, strlen(b64), b, PK_LEN) || memcmp(b, "Ed", 2) != 0)
        return ferry_error_set(err, FERRY_EMALFORMED, NULL, FERRY_NO_OFFSET, NULL,
                               "not a minisign Ed25519 public key");
    memcpy(pub->keynum, b + 2, 8);
    memcpy(pub->pk, b + 10, 32);
    return 0;
}

int ferry_minisign_load_pub(const char *path, struct ferry_minisign_pub *pub,
                            struct ferry_error *err)
{
    char buf[4096], *lines[4];
    int n, rc = read_lines(path, buf, sizeof(buf), lines, &n, err);
    if (rc) return rc;
    const char *line = n >= 2 ? lines[1] : n == 1 ? lines[0] : "";
    if (n >= 2 && strncmp(lines[0], "untrusted comment: ", 19) != 0)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "first line must be an untrusted comment");
    rc = ferry_minisign_parse_pub(line, pub, err);
    if (rc && err) snprintf(err->file, sizeof(err->file), "%s", path);
    return rc;
}

static int load_sec(const char *path, uint8_t *sec, struct ferry_error *err)
{
    char buf[4096], *lines[4];
    int n, rc = read_lines(path, buf, sizeof(buf), lines, &n, err);
    if (rc) return rc;
    if (n < 2 || strncmp(lines[0], "untrusted comment: ", 19) != 0 ||
        b64dec(lines[1], strlen(lines[1]), sec, SK_LEN) || memcmp(sec, "Ed", 2) != 0 ||
        memcmp(sec + 4, "B2", 2) != 0)
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                             "not a minisign secret key");
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

int ferry_minisign_key_encrypted(const char *path, struct ferry_error *err)
{
    uint8_t sec[SK_LEN];
    int rc = load_sec(path, sec, err);
    int enc = !rc && memcmp(sec + 2, "Sc", 2) == 0;
    sodium_memzero(sec, sizeof(sec));
    return rc ? rc : enc;
}

int ferry_minisign_load_key(const char *path, const char *password, struct ferry_minisign_key *key,
                            struct ferry_error *err)
{
    if (sodium_init() < 0)
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "libsodium init");
    uint8_t *sec = sodium_malloc(SK_LEN), chk[32];
    if (!sec) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    int rc = load_sec(path, sec, err);
    if (!rc && memcmp(sec + 2, "Sc", 2) == 0) {
        if (!password)
            rc = ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                                 "the key is encrypted and needs its password");
        else if (kdf_xor(sec + 54, 104, password, sec + 6, get_u64(sec + 38), get_u64(sec + 46)))
            rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL,
                                 "key derivation failed (out of memory?)");
    } else if (!rc && memcmp(sec + 2, "\0\0", 2) != 0)
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                             "unknown key derivation");
    if (!rc) {
        checksum(sec + 54, sec + 62, chk);
        if (sodium_memcmp(chk, sec + 126, 32) != 0)
            rc = ferry_error_set(err, FERRY_EPERM, path, FERRY_NO_OFFSET, NULL,
                                 "wrong password or corrupted key (checksum mismatch)");
    }
    if (!rc) {
        memcpy(key->keynum, sec + 54, 8);
        memcpy(key->sk, sec + 62, 64);
    }
    sodium_free(sec);
    return rc;
}

static int prehash(const char *path, uint8_t out[64], struct ferry_error *err)
{
    int fd = ferry_open_regular(path, 0, err);
    if (fd < 0) return fd;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 64);
    uint8_t buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0) crypto_generichash_update(&st, buf, (size_t)r);
    int e = errno;
    close(fd);
    if (r < 0)
        return ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "read: %s",
                               strerror(e));
    crypto_generichash_final(&st, out, 64);
    return 0;
}

int ferry_minisign_sign_file(const struct ferry_minisign_key *key, const char *file_path,
                             const char *sig_path, const char *trusted_comment, int force,
                             struct ferry_error *err)
{
    uint8_t h[64], sig[SIG_LEN], global[64];
    int rc = prehash(file_path, h, err);
    if (rc) return rc;
    memcpy(sig, "ED", 2);
    memcpy(sig + 2, key->keynum, 8);
    crypto_sign_detached(sig + 10, NULL, h, 64, key->sk);
    char tc[1024];
    if (trusted_comment)
        snprintf(tc, sizeof(tc), "%s", trusted_comment);
    else {
        char *dup = strdup(file_path);
        snprintf(tc, sizeof(tc), "timestamp:%lld\tfile:%s\thashed", (long long)time(NULL),
                 dup ? basename(dup) : "?");
        free(dup);
    }
    if (strchr(tc, '\n') || strchr(tc, '\r'))
        return ferry_error_set(err, FERRY_EUSAGE, sig_path, FERRY_NO_OFFSET, NULL,
                               "trusted comment must be one line");
    size_t tl = strlen(tc);
    uint8_t *gm = malloc(64 + tl);
    if (!gm) return ferry_error_set(err, FERRY_EINTERNAL, sig_path, FERRY_NO_OFFSET, NULL, "oom");
    memcpy(gm, sig + 10, 64);
    memcpy(gm + 64, tc, tl);
    crypto_sign_detached(global, NULL, gm, 64 + tl, key->sk);
    free(gm);
    char *s1 = ferry_base64_encode(sig, SIG_LEN), *s2 = ferry_base64_encode(global, 64),
         *text = NULL;
    if (s1 && s2 &&
        asprintf(
            &text,
            "untrusted comment: signature from ferry secret key\n%s\ntrusted comment: %s\n%s\n", s1,
            tc, s2) > 0)
        rc = write_text(sig_path, text, force, 0644, err);
    else
        rc = ferry_error_set(err, FERRY_EINTERNAL, sig_path, FERRY_NO_OFFSET, NULL, "oom");
    free(text);
    free(s1);
    free(s2);
    return rc;
}

int ferry_minisign_verify_buf(const struct ferry_minisign_pub *pub, const uint8_t *data, size_t len,
                              const char *what, const char *sig_path, char *trusted,
                              size_t trusted_len, struct ferry_error *err)
{
    if (sodium_init() < 0)
        return ferry_error_set(err, FERRY_EINTERNAL, sig_path, FERRY_NO_OFFSET, NULL, "libsodium");
    char buf[16384], *lines[4];
    int n, rc = read_lines(sig_path, buf, sizeof(buf), lines, &n, err);
    if (rc) return rc;
    uint8_t sig[SIG_LEN], global[64];
    if (n < 4 || strncmp(lines[0], "untrusted comment: ", 19) ||
        strncmp(lines[2], "trusted comment: ", 17) ||
        b64dec(lines[1], strlen(lines[1]), sig, SIG_LEN) ||
        b64dec(lines[3], strlen(lines[3]), global, 64))
        return ferry_error_set(err, FERRY_EMISMATCH, sig_path, FERRY_NO_OFFSET, NULL,
                               "not a minisign signature (4 lines: comment, signature, trusted "
                               "comment, global signature)");
    const char *tc = lines[2] + 17;
    if (strchr(tc, '\r'))
        return ferry_error_set(err, FERRY_EMISMATCH, sig_path, FERRY_NO_OFFSET, NULL,
                               "trusted comment contains a carriage return");
    int hashed = memcmp(sig, "ED", 2) == 0;
    if (!hashed && memcmp(sig, "Ed", 2) != 0)
        return ferry_error_set(err, FERRY_EMISMATCH, sig_path, FERRY_NO_OFFSET, NULL,
                               "unknown signature algorithm");
    if (memcmp(sig + 2, pub->keynum, 8) != 0) {
        char a[17], b[17];
        ferry_minisign_key_id(sig + 2, a);
        ferry_minisign_key_id(pub->keynum, b);
        return ferry_error_set(err, FERRY_EMISMATCH, sig_path, FERRY_NO_OFFSET, NULL,
                               "signature key id %s is different from public key id %s", a, b);
    }
    int bad;
    if (hashed) {
        uint8_t h[64];
        crypto_generichash(h, 64, data, len, NULL, 0);
        bad = crypto_sign_verify_detached(sig + 10, h, 64, pub->pk) != 0;
    } else {
        bad = crypto_sign_verify_detached(sig + 10, data, len, pub->pk) != 0;
    }
    if (bad)
        return ferry_error_set(err, FERRY_EMISMATCH, what, FERRY_NO_OFFSET, NULL,
                               "signature verification failed (file changed or wrong key)");
    size_t tl = strlen(tc);
    uint8_t *gm = malloc(64 + tl);
    if (!gm) return ferry_error_set(err, FERRY_EINTERNAL, sig_path, FERRY_NO_OFFSET, NULL, "oom");
    memcpy(gm, sig + 10, 64);
    memcpy(gm + 64, tc, tl);
    bad = crypto_sign_verify_detached(global, gm, 64 + tl, pub->pk) != 0;
    free(gm);
    if (bad)
        return ferry_error_set(err, FERRY_EMISMATCH, sig_path, FERRY_NO_OFFSET, NULL,
                               "trusted comment signature verification failed (forged comment?)");
    if (trusted) snprintf(trusted, trusted_len, "%s", tc);
    return 0;
}

int ferry_minisign_verify_file(const struct ferry_minisign_pub *pub, const char *file_path,
                               const char *sig_path, char *trusted, size_t trusted_len,
                               struct ferry_error *err)
{
    struct ferry_map m;
    int rc = ferry_map_open(&m, file_path, err);
    if (rc) return rc;
    rc = ferry_minisign_verify_buf(pub, m.data ? m.data : (const uint8_t *)"", (size_t)m.size,
                                   file_path, sig_path, trusted, trusted_len, err);
    ferry_map_close(&m);
    return rc;
}
