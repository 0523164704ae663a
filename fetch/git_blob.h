/* The git blob object id as the Hub lists it for small files: SHA-1 over "blob SIZE\0" and the
 * bytes. git_blob_init starts such a digest; the bytes follow with EVP_DigestUpdate. */
#ifndef FERRY_FETCH_GIT_BLOB_H
#define FERRY_FETCH_GIT_BLOB_H

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>

static inline void git_blob_init(EVP_MD_CTX *md, uint64_t size)
{
    char head[40];
    int n = snprintf(head, sizeof(head), "blob %llu", (unsigned long long)size);
    EVP_DigestInit_ex(md, EVP_sha1(), NULL);
    EVP_DigestUpdate(md, head, (size_t)n + 1); /* the NUL is part of the header */
}

#endif
