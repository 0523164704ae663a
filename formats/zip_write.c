/* Zip writer for PyTorch archives: stored entries, data aligned (PyTorch aligns records to 64
 * bytes so storages can be mapped), fixed timestamps for byte-identical output, CRC-32 patched
 * into the local header once the data is written, zip64 only when a size or offset needs it. */
#include "zip.h"
#include "cursor.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DOS_DATE 0x0021u /* 1980-01-01 */
#define PAD_ID   0x4246u /* "FB", the id PyTorch uses for its padding field */

void zipw_init(struct zip_writer *w, struct ferry_out *out, uint32_t align)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->align = align ? align : 1;
}

void zipw_free(struct zip_writer *w)
{
    for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    memset(w, 0, sizeof(*w));
}

int zipw_begin(struct zip_writer *w, const char *name, uint64_t size, struct ferry_error *err)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        void *p = realloc(w->e, cap * sizeof(*w->e));
        if (!p) return ferry_error_set(err, FERRY_EINTERNAL, w->out->path, 0, NULL, "oom");
        w->e = p;
        w->cap = cap;
    }
    struct zip_entry *e = &w->e[w->n];
    memset(e, 0, sizeof(*e));
    e->name = strdup(name);
    if (!e->name) return ferry_error_set(err, FERRY_EINTERNAL, w->out->path, 0, NULL, "oom");
    w->n++;
    uint64_t lho = w->out->pos;
    e->size = e->csize = size;
    e->data_off = lho; /* local header offset until finish */
    int z64 = size >= 0xffffffffu;
    size_t nl = strlen(name);
    uint64_t base = lho + 30u + nl + (z64 ? 20u : 0u) + 4u;
    uint64_t pad = (w->align - base % w->align) % w->align;
    uint8_t h[30];
    wr_u32le(h, 0x04034b50u);
    wr_u16le(h + 4, z64 ? 45 : 20);
    wr_u16le(h + 6, 0);
    wr_u16le(h + 8, 0);
    wr_u16le(h + 10, 0);
    wr_u16le(h + 12, DOS_DATE);
    wr_u32le(h + 14, 0); /* CRC patched in zipw_end */
    wr_u32le(h + 18, z64 ? 0xffffffffu : (uint32_t)size);
    wr_u32le(h + 22, z64 ? 0xffffffffu : (uint32_t)size);
    wr_u16le(h + 26, (uint16_t)nl);
    wr_u16le(h + 28, (uint16_t)((z64 ? 20u : 0u) + 4u + pad));
    int rc = ferry_out_write(w->out, h, 30, err);
    if (!rc) rc = ferry_out_write(w->out, name, nl, err);
    if (!rc && z64) {
        uint8_t x[20];
        wr_u16le(x, 1);
        wr_u16le(x + 2, 16);
        wr_u64le(x + 4, size);
        wr_u64le(x + 12, size);
        rc = ferry_out_write(w->out, x, 20, err);
    }
    if (!rc) {
        uint8_t x[4];
        wr_u16le(x, PAD_ID);
        wr_u16le(x + 2, (uint16_t)pad);
        rc = ferry_out_write(w->out, x, 4, err);
    }
    for (uint64_t i = 0; i < pad && !rc; i++) rc = ferry_out_write(w->out, "Z", 1, err);
    w->cur_crc_pos = lho + 14;
    w->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    w->written = 0;
    return rc;
}

int zipw_data(struct zip_writer *w, const void *p, uint64_t n, struct ferry_error *err)
{
    const uint8_t *b = p;
    uint64_t left = n;
    uLong crc = w->crc;
    while (left) {
        uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
        crc = crc32(crc, b, k);
        b += k;
        left -= k;
    }
    w->crc = (uint32_t)crc;
    w->written += n;
    return ferry_out_write(w->out, p, n, err);
}

int zipw_end(struct zip_writer *w, struct ferry_error *err)
{
    struct zip_entry *e = &w->e[w->n - 1];
    if (w->written != e->size)
        return ferry_error_set(err, FERRY_EINTERNAL, w->out->path, FERRY_NO_OFFSET, e->name,
                               "zip entry size mismatch");
    e->crc = w->crc;
    uint8_t b[4];
    wr_u32le(b, e->crc);
    return ferry_out_patch(w->out, w->cur_crc_pos, b, 4, err);
}

int zipw_finish(struct zip_writer *w, struct ferry_error *err)
{
    uint64_t cd_off = w->out->pos;
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++) {
        const struct zip_entry *e = &w->e[i];
        int zs = e->size >= 0xffffffffu, zo = e->data_off >= 0xffffffffu;
        uint16_t xl = (uint16_t)((zs || zo) ? 4 + (zs ? 16 : 0) + (zo ? 8 : 0) : 0);
        size_t nl = strlen(e->name);
        uint8_t h[46];
        memset(h, 0, sizeof(h));
        wr_u32le(h, 0x02014b50u);
        wr_u16le(h + 4, (zs || zo) ? 45 : 20);
        wr_u16le(h + 6, (zs || zo) ? 45 : 20);
        wr_u16le(h + 14, DOS_DATE);
        wr_u32le(h + 16, e->crc);
        wr_u32le(h + 20, zs ? 0xffffffffu : (uint32_t)e->size);
        wr_u32le(h + 24, zs ? 0xffffffffu : (uint32_t)e->size);
        wr_u16le(h + 28, (uint16_t)nl);
        wr_u16le(h + 30, xl);
        wr_u32le(h + 42, zo ? 0xffffffffu : (uint32_t)e->data_off);
        rc = ferry_out_write(w->out, h, 46, err);
        if (!rc) rc = ferry_out_write(w->out, e->name, nl, err);
        if (!rc && xl) {
            uint8_t x[28];
            size_t q = 4;
            wr_u16le(x, 1);
            wr_u16le(x + 2, (uint16_t)(xl - 4));
            if (zs) {
                wr_u64le(x + q, e->size);
                wr_u64le(x + q + 8, e->size);
                q += 16;
            }
            if (zo) {
                wr_u64le(x + q, e->data_off);
                q += 8;
            }
            rc = ferry_out_write(w->out, x, q, err);
        }
    }
    if (rc) return rc;
    uint64_t cd_size = w->out->pos - cd_off;
    int z64 = w->n >= 0xffff || cd_off >= 0xffffffffu || cd_size >= 0xffffffffu;
    if (z64) {
        uint64_t e64 = w->out->pos;
        uint8_t r[56 + 20];
        memset(r, 0, sizeof(r));
        wr_u32le(r, 0x06064b50u);
        wr_u64le(r + 4, 44);
        wr_u16le(r + 12, 45);
        wr_u16le(r + 14, 45);
        wr_u64le(r + 24, w->n);
        wr_u64le(r + 32, w->n);
        wr_u64le(r + 40, cd_size);
        wr_u64le(r + 48, cd_off);
        wr_u32le(r + 56, 0x07064b50u);
        wr_u64le(r + 64, e64);
        wr_u32le(r + 72, 1);
        if ((rc = ferry_out_write(w->out, r, sizeof(r), err))) return rc;
    }
    uint8_t r[22];
    memset(r, 0, sizeof(r));
    wr_u32le(r, 0x06054b50u);
    wr_u16le(r + 8, z64 ? 0xffff : (uint16_t)w->n);
    wr_u16le(r + 10, z64 ? 0xffff : (uint16_t)w->n);
    wr_u32le(r + 12, z64 ? 0xffffffffu : (uint32_t)cd_size);
    wr_u32le(r + 16, z64 ? 0xffffffffu : (uint32_t)cd_off);
    return ferry_out_write(w->out, r, 22, err);
}
