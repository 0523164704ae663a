/* All human and machine output of the ferry program: messages on stderr by verbosity and
 * colour settings, JSON documents on stdout. */
#ifndef FERRY_CLI_OUTPUT_H
#define FERRY_CLI_OUTPUT_H

#include <jansson.h>
#include <stdint.h>
#include "ferry/ckpt.h"
#include "ferry/error.h"

struct cli_opts {
    int verbosity; /* -1 quiet, 0 normal, 1+ verbose */
    int json;
    unsigned threads; /* 0 = all cores */
};

extern struct cli_opts g_opts;

void out_init(void);
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* hidden by -q */
void debugf(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* shown with -v */

/* Prints a library error and returns the exit code for it. */
int report_error(const struct ferry_error *err);

/* Long text for a reader: on a terminal through $PAGER (less by default, with LESS=FRX so a
 * short text just prints, as git does); otherwise stdout. Close with pager_close. */
FILE *pager_open(void);
void pager_close(FILE *f);

/* Prints one JSON document on stdout (steals the reference). */
void out_json(json_t *doc);
/* One event as a line of NDJSON on stdout, flushed (steals the reference). */
void out_ndjson(json_t *doc);

/* JSON string from bytes that may not be valid UTF-8 (invalid bytes become U+FFFD). */
json_t *json_bytes(const char *s, size_t len);
/* JSON value of a metadata value; arrays longer than max_items give a count instead. */
json_t *json_meta_value(const struct ferry_value *v, uint64_t max_items);
/* Human rendering of a metadata value (arrays summarized). */
void format_meta_value(const struct ferry_value *v, char *buf, size_t n);

/* Parses a non-negative integer option; prints an error and returns -1 when invalid. */
int parse_uint_opt(const char *opt, const char *s, uint64_t max, uint64_t *out);

/* Seconds on the monotonic clock, for rates and elapsed times. */
double now_seconds(void);

/* Generated text to a stream: as it is, unless the stream is a terminal, where control
 * characters and bytes that are not UTF-8 are shown as \xHH instead of driving the terminal.
 * A character split across writes (byte-fallback tokens) is held until it is complete. */
struct text_out {
    FILE *f;
    int tty;
    unsigned char pend[4];
    size_t npend;
};
void text_out_init(struct text_out *t, FILE *f);
void text_out_write(struct text_out *t, const char *s, size_t n);
/* Writes what is held (escaped: it never became a character). */
void text_out_flush(struct text_out *t);

/* Exit codes of SPEC section 5 */
/* Exit codes of SPEC section 5: each is the negated FERRY_E* code of the same meaning, so a
 * library error maps to its exit code as -code (report_error). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = -FERRY_EMISMATCH,
    EXIT_USAGE = -FERRY_EUSAGE,
    EXIT_MALFORMED = -FERRY_EMALFORMED,
    EXIT_NOINPUT = -FERRY_ENOINPUT,
    EXIT_UNAVAIL = -FERRY_EUNAVAIL,
    EXIT_INTERNAL = -FERRY_EINTERNAL,
    EXIT_CANTCREAT = -FERRY_ECANTCREAT,
    EXIT_IO = -FERRY_EIO,
    EXIT_INTR = -FERRY_EINTR,
    EXIT_PERM = -FERRY_EPERM,
};

#endif
