/* ferry.source.digest of SPEC section 7 (see ferry/hash.h): the manifest root of a source. */
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/manifest.h"
#include "ferry/pool.h"

#include <openssl/evp.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ferry_source_digest_recorded(const char *src, uint8_t root[32])
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/model.manifest.json", src);
    uint8_t *buf;
    size_t n;
    struct ferry_error e;
    ferry_error_clear(&e);
    if (ferry_read_file(path, 64u << 20, &buf, &n, &e)) return 0;
    struct ferry_manifest m;
    int ok = ferry_manifest_parse((const char *)buf, n, path, &m, &e) == 0;
    free(buf);
    if (ok) {
        memcpy(root, m.root, 32);
        ferry_manifest_free(&m);
    }
    return ok;
}

int ferry_source_digest_possible(const char *src)
{
    struct ferry_walk_opts wo = {.walk_only = 1};
    struct ferry_manifest m;
    struct ferry_error e;
    ferry_error_clear(&e);
    if (ferry_manifest_build(src, &wo, &m, &e) != 0) return 0;
    ferry_manifest_free(&m);
    return 1;
}

int ferry_source_digest(const char *src, unsigned threads, uint8_t root[32],
                        struct ferry_error *err)
{
    struct ferry_walk_opts wo = {.threads = threads};
    struct ferry_manifest m;
    int rc = ferry_manifest_build(src, &wo, &m, err);
    if (rc) return rc;
    memcpy(root, m.root, 32);
    ferry_manifest_free(&m);
    return 0;
}

/* OMS "shards" serialization: shard k of a file is [k*size, min((k+1)*size, file size)) */
struct shard {
    int fd;
    uint64_t start, end;
    uint8_t digest[32];
    int failed;
};

struct shard_run {
    struct shard *s;
    size_t n;
    atomic_size_t next;
};

static void hash_shards(void *ctx, unsigned i, unsigned n)
{
    (void)i, (void)n;
    struct shard_run *r = ctx;
    uint8_t *buf = malloc(1u << 20);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    for (size_t k; (k = atomic_fetch_add(&r->next, 1)) < r->n;) {
        struct shard *s = &r->s[k];
        s->failed = !buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        for (uint64_t off = s->start; !s->failed && off < s->end;) {
            size_t want = s->end - off < (1u << 20) ? (size_t)(s->end - off) : (1u << 20);
            ssize_t got = pread(s->fd, buf, want, (off_t)off);
            if (got <= 0 || !EVP_DigestUpdate(md, buf, (size_t)got)) s->failed = 1;
            off += got > 0 ? (uint64_t)got : 0;
        }
        if (!s->failed) s->failed = !EVP_DigestFinal_ex(md, s->digest, NULL);
    }
    EVP_MD_CTX_free(md);
    free(buf);
}

int ferry_source_digest_shards(const char *src, unsigned threads, uint64_t shard_size,
                               uint8_t root[32], struct ferry_error *err)
{
    struct ferry_walk_opts wo = {.walk_only = 1}; /* the files, in the manifest's order */
    struct ferry_manifest m;
    if (!shard_size)
        return ferry_error_set(err, FERRY_EUSAGE, src, FERRY_NO_OFFSET, NULL, "shard size 0");
    int rc = ferry_manifest_build(src, &wo, &m, err);
    if (rc) return rc;
    struct stat st;
    int single = stat(src, &st) == 0 && !S_ISDIR(st.st_mode);
    int *fds = calloc(m.nres + 1, sizeof(int));
    size_t n = 0, cap = 0;
    struct shard *shards = NULL;
    if (!fds) rc = ferry_error_set(err, FERRY_EINTERNAL, src, FERRY_NO_OFFSET, NULL, "oom");
    for (size_t i = 0; !rc && i < m.nres; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", src, m.res[i].name);
        uint64_t size = 0;
        fds[i] = ferry_open_regular_sized(single ? src : path, 1, &size, err);
        if (fds[i] < 0) {
            rc = fds[i];
            fds[i] = 0;
            break;
        }
        fds[i]++; /* stored plus one: 0 means not open */
        for (uint64_t start = 0; !rc && start < size; start += shard_size) {
            if (n == cap) {
                struct shard *more = realloc(shards, (cap = cap ? 2 * cap : 64) * sizeof(*more));
                if (!more) {
                    rc = ferry_error_set(err, FERRY_EINTERNAL, src, FERRY_NO_OFFSET, NULL, "oom");
                    break;
                }
                shards = more;
            }
            uint64_t end = size - start > shard_size ? start + shard_size : size;
            shards[n++] = (struct shard){.fd = fds[i] - 1, .start = start, .end = end};
        }
    }
    if (!rc) {
        struct shard_run run = {.s = shards, .n = n};
        atomic_init(&run.next, 0);
        unsigned t = threads ? threads : ferry_cpu_count();
        ferry_parallel(t < n ? t : n ? (unsigned)n : 1, hash_shards, &run);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        for (size_t k = 0; ok && k < n; k++) {
            if (shards[k].failed) {
                rc = ferry_error_set(err, FERRY_EIO, src, shards[k].start, NULL,
                                     "cannot read a shard of the source");
                break;
            }
            ok = EVP_DigestUpdate(md, shards[k].digest, 32);
        }
        if (!rc && !(ok && EVP_DigestFinal_ex(md, root, NULL)))
            rc =
                ferry_error_set(err, FERRY_EINTERNAL, src, FERRY_NO_OFFSET, NULL, "SHA-256 failed");
        EVP_MD_CTX_free(md);
    }
    for (size_t i = 0; fds && i < m.nres; i++)
        if (fds[i]) close(fds[i] - 1);
    free(fds);
    free(shards);
    ferry_manifest_free(&m);
    return rc;
}
