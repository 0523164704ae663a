/* Zip central-directory reader with zip64 support; every offset and size is checked against
 * the file before use. */
#include "zip.h"
#include "cursor.h"
#include "ferry/ckd.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIG_EOCD   0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64  0x07064b50u
#define SIG_CEN    0x02014b50u
#define SIG_LOC    0x04034b50u

#define BAD(off, ...) ferry_error_set(err, FERRY_EMALFORMED, path, off, NULL, __VA_ARGS__)

void zip_free(struct zip *z)
{
    for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    memset(z, 0, sizeof(*z));
}

const struct zip_entry *zip_find(const struct zip *z, const char *name)
{
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0) return &z->e[i];
    return NULL;
}

/* Applies the zip64 extended-information extra field to fields saturated at 0xffffffff. */
static int apply_zip64(const uint8_t *ex, uint64_t exlen, uint64_t *usize, uint64_t *csize,
                       uint64_t *lho)
{
    uint64_t p = 0;
    while (p + 4 <= exlen) {
        uint16_t id = rd_u16le(ex + p), len = rd_u16le(ex + p + 2);
        if (p + 4 + len > exlen) return -1;
        if (id == 1) {
            const uint8_t *d = ex + p + 4;
            uint64_t q = 0;
            uint64_t *f[3] = {usize, csize, lho};
            for (int i = 0; i < 3; i++) {
                if (*f[i] != 0xffffffffu) continue;
                if (q + 8 > len) return -1;
                *f[i] = rd_u64le(d + q);
                q += 8;
            }
            return 0;
        }
        p += 4u + len;
    }
    return 0;
}

int zip_open(struct zip *z, const uint8_t *data, uint64_t size, const char *path,
             struct ferry_error *err)
{
    memset(z, 0, sizeof(*z));
    if (size < 22) return BAD(0, "zip: file too small for an end-of-central-directory record");
    uint64_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0, eocd = UINT64_MAX;
    for (uint64_t p = size - 22 + 1; p-- > lo;)
        if (rd_u32le(data + p) == SIG_EOCD) {
            eocd = p;
            break;
        }
    if (eocd == UINT64_MAX) return BAD(FERRY_NO_OFFSET, "zip: no end-of-central-directory record");
    uint64_t n = rd_u16le(data + eocd + 10);
    uint64_t cd_size = rd_u32le(data + eocd + 12), cd_off = rd_u32le(data + eocd + 16);
    if ((n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) && eocd >= 20 &&
        rd_u32le(data + eocd - 20) == SIG_LOC64) {
        uint64_t e64 = rd_u64le(data + eocd - 20 + 8);
        if (e64 > size || size - e64 < 56 || rd_u32le(data + e64) != SIG_EOCD64)
            return BAD(eocd - 20, "zip64: bad end-of-central-directory locator");
        n = rd_u64le(data + e64 + 32);
        cd_size = rd_u64le(data + e64 + 40);
        cd_off = rd_u64le(data + e64 + 48);
    }
    uint64_t cd_end;
    if (ckd_add_u64(&cd_end, cd_off, cd_size) || cd_end > size || n > cd_size / 46)
        return BAD(eocd, "zip: central directory (%llu entries at %llu) runs past the end",
                   (unsigned long long)n, (unsigned long long)cd_off);
    z->e = calloc(n ? (size_t)n : 1, sizeof(*z->e));
    if (!z->e) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "out of memory");
    uint64_t p = cd_off;
    int rc = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (cd_end - p < 46 || rd_u32le(data + p) != SIG_CEN) {
            rc = BAD(p, "zip: bad central directory entry %llu", (unsigned long long)i);
            break;
        }
        struct zip_entry *e = &z->e[z->n];
        uint16_t flags = rd_u16le(data + p + 8);
        e->method = rd_u16le(data + p + 10);
        e->crc = rd_u32le(data + p + 16);
        e->csize = rd_u32le(data + p + 20);
        e->size = rd_u32le(data + p + 24);
        uint64_t nl = rd_u16le(data + p + 28), xl = rd_u16le(data + p + 30),
                 cl = rd_u16le(data + p + 32);
        uint64_t lho = rd_u32le(data + p + 42);
        if (cd_end - p - 46 < nl + xl + cl) {
            rc = BAD(p, "zip: central directory entry runs past the directory");
            break;
        }
        if (flags & 1) {
            rc = BAD(p, "zip: encrypted entries are not supported");
            break;
        }
        if (apply_zip64(data + p + 46 + nl, xl, &e->size, &e->csize, &lho)) {
            rc = BAD(p, "zip: malformed zip64 extra field");
            break;
        }
        e->name = malloc((size_t)nl + 1);
        if (!e->name) {
            rc = ferry_error_set(err, FERRY_EINTERNAL, path, p, NULL, "out of memory");
            break;
        }
        memcpy(e->name, data + p + 46, (size_t)nl);
        e->name[nl] = 0;
        z->n++;
        if (strlen(e->name) != nl) {
            rc = BAD(p, "zip: entry name contains a NUL byte");
            break;
        }
        if (lho > size || size - lho < 30 || rd_u32le(data + lho) != SIG_LOC) {
            rc = BAD(lho, "zip: bad local header for '%s'", e->name);
            break;
        }
        uint64_t lnl = rd_u16le(data + lho + 26), lxl = rd_u16le(data + lho + 28);
        e->data_off = lho + 30 + lnl + lxl;
        uint64_t end;
        if (ckd_add_u64(&end, e->data_off, e->csize) || end > size) {
            rc = BAD(lho, "zip: data of '%s' runs past the end of the file", e->name);
            break;
        }
        if (e->method == 0 && e->csize != e->size) {
            rc = BAD(p, "zip: stored entry '%s' has different sizes", e->name);
            break;
        }
        p += 46 + nl + xl + cl;
    }
    if (rc) zip_free(z);
    return rc;
}

int zip_inflate(const uint8_t *data, uint64_t size, const struct zip_entry *e, uint8_t *out,
                const char *path, struct ferry_error *err)
{
    if (e->method != 8)
        return ferry_error_set(err, FERRY_EMALFORMED, path, e->data_off, e->name,
                               "compression method %u is not supported (stored or deflate only)",
                               e->method);
    if (e->data_off > size || e->csize > size - e->data_off)
        return ferry_error_set(err, FERRY_EMALFORMED, path, e->data_off, e->name,
                               "compressed data runs past the end of the file");
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -15) != Z_OK)
        return ferry_error_set(err, FERRY_EINTERNAL, path, e->data_off, e->name, "zlib init");
    const uint8_t *in = data + e->data_off;
    uint64_t in_left = e->csize, out_done = 0;
    int zr = Z_OK;
    while (zr == Z_OK) {
        uInt ci = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        uInt co = e->size - out_done > (1u << 30) ? (1u << 30) : (uInt)(e->size - out_done);
        zs.next_in = (Bytef *)(uintptr_t)in, zs.avail_in = ci;
        zs.next_out = out + out_done, zs.avail_out = co;
        zr = inflate(&zs, Z_NO_FLUSH);
        in += ci - zs.avail_in, in_left -= ci - zs.avail_in;
        out_done += co - zs.avail_out;
        if (zr == Z_OK && ci == zs.avail_in && co == zs.avail_out)
            zr = Z_BUF_ERROR; /* no progress */
        if (zr == Z_OK && out_done == e->size && zs.avail_out == 0 && in_left == 0) break;
    }
    inflateEnd(&zs);
    if ((zr != Z_STREAM_END && zr != Z_OK) || out_done != e->size)
        return ferry_error_set(err, FERRY_EMALFORMED, path, e->data_off, e->name,
                               "deflate data is damaged or does not give the %llu bytes declared",
                               (unsigned long long)e->size);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t o = 0; o < e->size;) {
        uInt n = e->size - o > (1u << 30) ? (1u << 30) : (uInt)(e->size - o);
        crc = crc32(crc, out + o, n);
        o += n;
    }
    if ((uint32_t)crc != e->crc)
        return ferry_error_set(err, FERRY_EMALFORMED, path, e->data_off, e->name,
                               "CRC-32 does not match");
    return 0;
}

int zip_check_ratio(const struct zip_entry *e, const char *path, struct ferry_error *err)
{
    if (e->size > (64ull << 20) && e->size / (e->csize ? e->csize : 1) > 1000)
        return ferry_error_set(err, FERRY_EMALFORMED, path, e->data_off, e->name,
                               "declares %llu bytes from %llu compressed (a decompression bomb?)",
                               (unsigned long long)e->size, (unsigned long long)e->csize);
    return 0;
}
