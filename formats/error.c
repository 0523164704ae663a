/* Error records of libferry: filled by the library, printed by the CLI. */
#include "ferry/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ferry_error_clear(struct ferry_error *err)
{
    if (!err) return;
    memset(err, 0, sizeof(*err));
    err->offset = FERRY_NO_OFFSET;
}

int ferry_error_set(struct ferry_error *err, int code, const char *file, uint64_t offset,
                    const char *object, const char *fmt, ...)
{
    if (!err) return code;
    /* keep the first, most specific cause when callers add context */
    if (err->code != 0) return err->code;
    err->code = code;
    err->offset = offset;
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    snprintf(err->object, sizeof(err->object), "%s", object ? object : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->cause, sizeof(err->cause), fmt, ap);
    va_end(ap);
    return code;
}

const char *ferry_error_format(const struct ferry_error *err, char *buf, unsigned long size)
{
    size_t n = 0;
    buf[0] = 0;
    if (err->file[0]) n += (size_t)snprintf(buf + n, size - n, "%s: ", err->file);
    if (n < size && err->offset != FERRY_NO_OFFSET)
        n += (size_t)snprintf(buf + n, size - n, "offset %llu: ", (unsigned long long)err->offset);
    if (n < size && err->object[0]) n += (size_t)snprintf(buf + n, size - n, "'%s': ", err->object);
    if (n < size) snprintf(buf + n, size - n, "%s", err->cause[0] ? err->cause : "error");
    return buf;
}

int ferry_errno_code(int e)
{
    if (e == ENOENT || e == ENOTDIR) return FERRY_ENOINPUT;
    if (e == EACCES || e == EPERM) return FERRY_EPERM;
    return FERRY_EIO;
}

const char *ferry_error_name(int code)
{
    switch (code) {
    case FERRY_OK: return "ok";
    case FERRY_EMISMATCH: return "verification failed";
    case FERRY_EUSAGE: return "usage";
    case FERRY_EMALFORMED: return "malformed input";
    case FERRY_ENOINPUT: return "input not found";
    case FERRY_EUNAVAIL: return "service unavailable";
    case FERRY_EINTERNAL: return "internal error";
    case FERRY_ECANTCREAT: return "cannot create output";
    case FERRY_EIO: return "I/O error";
    case FERRY_EINTR: return "interrupted";
    case FERRY_EPERM: return "permission denied";
    default: return "error";
    }
}
