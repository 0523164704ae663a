/* ferry_fetch_check_file (see ferry/fetch.h): is a file already on disk the expected one? */
#include "ferry/fetch.h"
#include "ferry/file.h"
#include "git_blob.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ferry_fetch_check_file(const char *path, uint64_t size, const uint8_t *sha256,
                           const uint8_t *git_sha1, struct ferry_error *err)
{
    int fd = ferry_open_regular(path, 0, err);
    if (fd < 0) return fd;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
        close(fd);
        return ferry_error_set(err, FERRY_EMISMATCH, path, FERRY_NO_OFFSET, NULL,
                               "not a regular file of %llu bytes", (unsigned long long)size);
    }
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    EVP_DigestInit_ex(a, EVP_sha256(), NULL);
    git_blob_init(b, size);
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    int rc = buf ? 0 : ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    for (ssize_t r; !rc && (r = read(fd, buf, BUF)) != 0;) {
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "read: %s",
                                 strerror(errno));
            break;
        }
        if (sha256) EVP_DigestUpdate(a, buf, (size_t)r);
        if (git_sha1) EVP_DigestUpdate(b, buf, (size_t)r);
    }
    uint8_t da[32], db[20];
    unsigned int n;
    EVP_DigestFinal_ex(a, da, &n);
    EVP_DigestFinal_ex(b, db, &n);
    if (!rc && ((sha256 && memcmp(da, sha256, 32)) || (git_sha1 && memcmp(db, git_sha1, 20))))
        rc = ferry_error_set(err, FERRY_EMISMATCH, path, FERRY_NO_OFFSET, NULL,
                             "content differs from the expected hash");
    free(buf);
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    close(fd);
    return rc;
}
