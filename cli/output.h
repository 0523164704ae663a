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

/* Prints one JSON document on stdout (steals the reference). */
void out_json(json_t *doc);

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

/* Exit codes of SPEC section 5 */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 64 };

#endif
