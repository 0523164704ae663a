/* Minimal zip reading (central directory, zip64) and writing (stored records aligned for
 * mapping) for PyTorch checkpoints. Entries are located by offset so tensor data can be
 * used in place from the read-only mapping. */
#ifndef FERRY_ZIP_H
#define FERRY_ZIP_H

#include <stdint.h>
#include <stddef.h>
#include "ferry/error.h"
#include "ferry/file.h"

struct zip_entry {
    char *name;
    uint64_t data_off; /* file offset of the entry's bytes */
    uint64_t size;     /* uncompressed */
    uint64_t csize;    /* compressed */
    uint16_t method;   /* 0 stored, 8 deflate */
    uint32_t crc;
};

struct zip {
    struct zip_entry *e;
    size_t n;
};

int zip_open(struct zip *z, const uint8_t *data, uint64_t size, const char *path,
             struct ferry_error *err);
void zip_free(struct zip *z);
const struct zip_entry *zip_find(const struct zip *z, const char *name);

/* Inflates a deflate entry (method 8) of the zip in data[0..size) into out (e->size bytes),
 * checking its length and CRC-32. zlib reads the one entry at its offset from the central
 * directory; libarchive's streaming reader would walk every entry before it to get there. */
int zip_inflate(const uint8_t *data, uint64_t size, const struct zip_entry *e, uint8_t *out,
                const char *path, struct ferry_error *err);
/* Refuses a deflate entry declaring more than 1000 times its compressed size (past 64 MiB):
 * a decompression bomb, checked before any memory is set aside for it. */
int zip_check_ratio(const struct zip_entry *e, const char *path, struct ferry_error *err);

/* Writer: stored entries whose data starts at a multiple of align (padding in the local
 * header's extra field, as PyTorch's writer does); zip64 records when needed. */
struct zip_writer {
    struct ferry_out *out;
    struct zip_entry *e;
    size_t n, cap;
    uint32_t align;
    uint64_t cur_crc_pos; /* local header position of the entry being written */
    uint32_t crc;
    uint64_t written;
};

void zipw_init(struct zip_writer *w, struct ferry_out *out, uint32_t align);
/* Starts an entry of known size (needed up front for the local header). */
int zipw_begin(struct zip_writer *w, const char *name, uint64_t size, struct ferry_error *err);
int zipw_data(struct zip_writer *w, const void *p, uint64_t n, struct ferry_error *err);
/* Ends the entry; the CRC goes into the central directory (and a data descriptor). */
int zipw_end(struct zip_writer *w, struct ferry_error *err);
/* Writes the central directory and end records. */
int zipw_finish(struct zip_writer *w, struct ferry_error *err);
void zipw_free(struct zip_writer *w);

#endif
