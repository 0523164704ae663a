/* .npy reader and writer. The header is a Python dict literal; only the three keys numpy
 * writes are parsed, with every number bounded. */
#include "ferry/npy.h"
#include "ferry/ckd.h"
#include "cursor.h"
#include "zip.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr;
    enum ferry_dtype dt;
} descrs[] = {
    {"<f4", FERRY_DT_F32}, {"<f8", FERRY_DT_F64}, {"<f2", FERRY_DT_F16}, {"|i1", FERRY_DT_I8},
    {"<i2", FERRY_DT_I16}, {"<i4", FERRY_DT_I32}, {"<i8", FERRY_DT_I64}, {"|u1", FERRY_DT_U8},
    {"<u2", FERRY_DT_U16}, {"<u4", FERRY_DT_U32}, {"<u8", FERRY_DT_U64}, {"|b1", FERRY_DT_BOOL},
    {"<c8", FERRY_DT_C64},
};

static const char *find_key(const char *h, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= n; i++)
        if (memcmp(h + i, key, kl) == 0) {
            const char *p = h + i + kl;
            while (p < h + n && (*p == ' ' || *p == ':')) p++;
            return p;
        }
    return NULL;
}

/* The array stored at [base, base+size) of ck's file, named name. */
static int parse_npy(struct ferry_ckpt *ck, uint32_t file, uint64_t base, uint64_t size,
                     const char *name, struct ferry_error *err)
{
    const struct ferry_map *mp = &ck->files[file];
    const char *path = mp->path;
    const uint8_t *d0 = mp->data ? mp->data + base : NULL; /* an empty file is not mapped */
    if (size < 10 || memcmp(d0, "\x93NUMPY", 6) != 0)
        return ferry_error_set(err, FERRY_EMALFORMED, path, base, name,
                               "not a .npy file (bad magic)");
    uint8_t major = d0[6];
    uint64_t hl, hstart;
    if (major == 1) {
        hl = rd_u16le(d0 + 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return ferry_error_set(err, FERRY_EMALFORMED, path, base + 8, name, "truncated");
        hl = rd_u32le(d0 + 8);
        hstart = 12;
    } else
        return ferry_error_set(err, FERRY_EMALFORMED, path, base + 6, name,
                               "unsupported .npy version %u", major);
    if (hl > size - hstart)
        return ferry_error_set(err, FERRY_EMALFORMED, path, base + 8, name,
                               "header runs past the end");
    struct {
        uint64_t size;
        const uint8_t *data;
    } mm = {size, d0}, *m = &mm;
    const char *h = (const char *)d0 + hstart, *end = h + hl;
    const char *d = find_key(h, (size_t)hl, "'descr'");
    const char *fo = find_key(h, (size_t)hl, "'fortran_order'");
    const char *sh = find_key(h, (size_t)hl, "'shape'");
    if (!d || !fo || !sh || end - d < 5 || *d != '\'' || *sh != '(')
        return ferry_error_set(err, FERRY_EMALFORMED, path, hstart, NULL,
                               "header lacks descr, fortran_order or shape");
    struct ferry_tensor *t = ferry_ckpt_add_tensor(ck, name, strlen(name));
    if (!t) return ferry_error_set(err, FERRY_EINTERNAL, path, 0, NULL, "oom");
    t->file = file;
    for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
        if (memcmp(d + 1, descrs[i].descr, 3) == 0 && d[4] == '\'') t->dtype = descrs[i].dt;
    if (t->dtype == FERRY_DT_INVALID)
        return ferry_error_set(err, FERRY_EMALFORMED, path, hstart, NULL,
                               "unsupported dtype descr (only little-endian plain types)");
    int fortran = end - fo >= 4 && memcmp(fo, "True", 4) == 0;
    const char *p = sh + 1;
    while (p < end && *p != ')') {
        while (p < end && (*p == ' ' || *p == ',')) p++;
        if (p < end && *p == ')') break;
        if (p >= end || !isdigit((unsigned char)*p) || t->ndim == FERRY_MAX_DIMS)
            return ferry_error_set(err, FERRY_EMALFORMED, path, hstart, NULL, "bad shape");
        uint64_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (ckd_mul_u64(&v, v, 10) || ckd_add_u64(&v, v, (uint64_t)(*p - '0')))
                return ferry_error_set(err, FERRY_EMALFORMED, path, hstart, NULL, "shape overflow");
            p++;
        }
        t->shape[t->ndim++] = v;
    }
    if (p >= end)
        return ferry_error_set(err, FERRY_EMALFORMED, path, hstart, NULL,
                               "shape tuple has no closing ')'");
    uint32_t es = ferry_dtype_elem_size(t->dtype);
    uint64_t data = hstart + hl;
    if (ferry_shape_nelem(t->shape, t->ndim, &t->nelem) || ckd_mul_u64(&t->nbytes, t->nelem, es))
        return ferry_error_set(err, FERRY_EMALFORMED, path, hstart, NULL,
                               "shape has more than 2^64 bytes of elements");
    if (t->nbytes != m->size - data)
        return ferry_error_set(err, FERRY_EMALFORMED, path, data, NULL,
                               "data is %llu bytes, shape needs %llu",
                               (unsigned long long)(m->size - data), (unsigned long long)t->nbytes);
    t->offset = base + data;
    t->data = m->data + data;
    if (fortran && t->ndim > 1 && t->nelem) { /* strides fit: nelem is at most the file size */
        t->contiguous = 0;
        int64_t s = 1;
        for (uint32_t i = 0; i < t->ndim; i++) {
            t->strides[i] = s;
            s *= (int64_t)t->shape[i];
        }
    }
    return 0;
}

int ferry_npy_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    uint32_t file;
    int rc = ferry_ckpt_add_file(ck, path, &file, err);
    if (rc) return rc;
    ck->format = "npy";
    return parse_npy(ck, file, 0, ck->files[file].size, "array", err);
}

/* .npz (numpy.savez, savez_compressed): a zip of NAME.npy members. Stored members are used in
 * place; deflated ones are inflated into memory the checkpoint owns. */
int ferry_npz_read(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    uint32_t file;
    int rc = ferry_ckpt_add_file(ck, path, &file, err);
    if (rc) return rc;
    ck->format = "npz";
    struct zip z;
    if ((rc = zip_open(&z, ck->files[file].data, ck->files[file].size, path, err))) return rc;
    for (size_t i = 0; i < z.n && !rc; i++) {
        const struct zip_entry *e = &z.e[i];
        size_t nl = strlen(e->name);
        if (nl < 5 || strcmp(e->name + nl - 4, ".npy")) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, e->data_off, e->name,
                                 "an .npz member is not a .npy array");
            break;
        }
        char name[1024];
        snprintf(name, sizeof(name), "%.*s", (int)(nl - 4), e->name);
        if (e->method == 0) {
            rc = parse_npy(ck, file, e->data_off, e->size, name, err);
            continue;
        }
        uint8_t *out;
        uint32_t mem;
        rc = zip_check_ratio(e, path, err);
        if (!rc) rc = ferry_ckpt_add_memory(ck, e->name, e->size, &out, &mem, err);
        if (!rc) rc = zip_inflate(ck->files[file].data, ck->files[file].size, e, out, path, err);
        if (!rc) rc = parse_npy(ck, mem, 0, e->size, name, err);
    }
    zip_free(&z);
    return rc;
}

int ferry_npy_write(const char *path, int force, enum ferry_dtype dtype, uint32_t ndim,
                    const uint64_t *shape, const void *data, struct ferry_error *err)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
        if (descrs[i].dt == dtype) descr = descrs[i].descr;
    if (!descr || ndim > FERRY_MAX_DIMS)
        return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                               "cannot write dtype %s to .npy", ferry_dtype_name(dtype));
    char h[512];
    int n = snprintf(h, sizeof(h), "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (uint32_t i = 0; i < ndim; i++)
        n += snprintf(h + n, sizeof(h) - (size_t)n, "%llu,%s", (unsigned long long)shape[i],
                      i + 1 < ndim ? " " : "");
    if (ndim > 1) n--; /* numpy writes (2, 3) but (5,) */
    n += snprintf(h + n, sizeof(h) - (size_t)n, "), }");
    /* pad with spaces so that 10 + header length is a multiple of 64, ending in '\n' */
    size_t total = ((size_t)10 + (size_t)n + 1 + 63) / 64 * 64;
    size_t hl = total - 10;
    memset(h + n, ' ', hl - (size_t)n - 1);
    h[hl - 1] = '\n';
    uint64_t nelem, nbytes;
    if (ferry_shape_nelem(shape, ndim, &nelem) ||
        ckd_mul_u64(&nbytes, nelem, ferry_dtype_elem_size(dtype)))
        return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL, "size overflow");
    struct ferry_out out;
    int rc = ferry_out_open(&out, path, force, err);
    if (rc) return rc;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    wr_u16le(pre + 8, (uint16_t)hl);
    if (!(rc = ferry_out_write(&out, pre, 10, err)) && !(rc = ferry_out_write(&out, h, hl, err)) &&
        !(rc = ferry_out_write(&out, data, nbytes, err)))
        rc = ferry_out_commit(&out, err);
    if (rc) ferry_out_abort(&out);
    return rc;
}
