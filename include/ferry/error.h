/* Library error reporting: every failing call fills a ferry_error with a code,
 * the file, an optional offset and object (tensor or key) and the cause.
 * Codes are the negated exit codes of SPEC section 5, so the CLI exits with -code. */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stdint.h>

enum {
    FERRY_OK = 0,
    FERRY_EMISMATCH = -1,   /* verification or check failed */
    FERRY_EUSAGE = -64,     /* bad options */
    FERRY_EMALFORMED = -65, /* malformed input */
    FERRY_ENOINPUT = -66,   /* input not found */
    FERRY_EUNAVAIL = -69,   /* network or service unavailable */
    FERRY_EINTERNAL = -70,  /* internal error, out of memory */
    FERRY_ECANTCREAT = -73, /* cannot create output */
    FERRY_EIO = -74,        /* I/O error */
    FERRY_EINTR = -75,      /* interrupted, a rerun resumes */
    FERRY_EPERM = -77,      /* permission denied */
};

#define FERRY_NO_OFFSET UINT64_MAX

struct ferry_error {
    int code;
    uint64_t offset; /* FERRY_NO_OFFSET when not applicable */
    char file[512];
    char object[256]; /* tensor name or metadata key, may be empty */
    char cause[768];
};

/* Clears an error record. */
void ferry_error_clear(struct ferry_error *err);

/* Fills err (if not NULL) and returns code. file and object may be NULL. */
int ferry_error_set(struct ferry_error *err, int code, const char *file, uint64_t offset,
                    const char *object, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* "FILE: offset N: tensor 'x': cause" into buf. */
const char *ferry_error_format(const struct ferry_error *err, char *buf, unsigned long size);

/* The exit code for a failed open/stat: ENOENT/ENOTDIR 66, EACCES/EPERM 77, else 74. */
int ferry_errno_code(int e);

/* Short name of a code ("malformed input", ...). */
const char *ferry_error_name(int code);

#endif
