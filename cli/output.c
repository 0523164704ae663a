/* Messages, colour, verbosity and JSON printing for every subcommand. */
#include "output.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cli_opts g_opts;
static int use_color;

void out_init(void)
{
    const char *nc = getenv("NO_COLOR");
    use_color = isatty(2) && !(nc && nc[0]) && !(getenv("TERM") && !strcmp(getenv("TERM"), "dumb"));
}

static void vmsg(const char *color, const char *label, const char *fmt, va_list ap)
{
    fprintf(stderr, "ferry: ");
    if (label) fprintf(stderr, use_color ? "%s%s:\033[0m " : "%.0s%s: ", color, label);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("\033[1;31m", "error", fmt, ap);
    va_end(ap);
}

void warnf(const char *fmt, ...)
{
    if (g_opts.verbosity < 0) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("\033[1;33m", "warning", fmt, ap);
    va_end(ap);
}

void notef(const char *fmt, ...)
{
    if (g_opts.verbosity < 0) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("", NULL, fmt, ap);
    va_end(ap);
}

void debugf(const char *fmt, ...)
{
    if (g_opts.verbosity < 1) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("", NULL, fmt, ap);
    va_end(ap);
}

int report_error(const struct ferry_error *err)
{
    char buf[2048];
    errorf("%s", ferry_error_format(err, buf, sizeof(buf)));
    int code = -err->code;
    return code > 0 && code < 126 ? code : 70;
}

void out_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    fputc('\n', stdout);
    json_decref(doc);
}

void out_ndjson(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) printf("%s\n", s), fflush(stdout);
    free(s);
    json_decref(doc);
}

json_t *json_bytes(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j) return j;
    /* lossy copy: keep valid UTF-8 sequences, replace each bad byte with U+FFFD */
    char *o = malloc(len * 3 + 1);
    if (!o) return json_null();
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = n > 0 && i + n <= len && (n > 1 || c != 0);
        for (size_t q = 1; ok && q < n; q++) ok = ((unsigned char)s[i + q] >> 6) == 2;
        if (ok && n > 1) { /* overlong / surrogate check */
            json_t *probe = json_stringn(s + i, n);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            memcpy(o + k, s + i, n);
            k += n;
            i += n;
        } else {
            memcpy(o + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        }
    }
    j = json_stringn(o, k);
    free(o);
    return j ? j : json_null();
}

static json_t *json_float(double f)
{
    if (isnan(f)) return json_string("nan");
    if (isinf(f)) return json_string(f > 0 ? "inf" : "-inf");
    return json_real(f);
}

static json_t *scalar(enum ferry_vtype t, const void *p)
{
    switch (t) {
    case FERRY_V_U8: return json_integer(*(const uint8_t *)p);
    case FERRY_V_I8: return json_integer(*(const int8_t *)p);
    case FERRY_V_U16: return json_integer(*(const uint16_t *)p);
    case FERRY_V_I16: return json_integer(*(const int16_t *)p);
    case FERRY_V_U32: return json_integer(*(const uint32_t *)p);
    case FERRY_V_I32: return json_integer(*(const int32_t *)p);
    case FERRY_V_I64: return json_integer(*(const int64_t *)p);
    case FERRY_V_U64: {
        uint64_t v = *(const uint64_t *)p;
        if (v <= INT64_MAX) return json_integer((json_int_t)v);
        char b[32];
        snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
        return json_string(b);
    }
    case FERRY_V_F32: return json_float(*(const float *)p);
    case FERRY_V_F64: return json_float(*(const double *)p);
    case FERRY_V_BOOL: return json_boolean(*(const uint8_t *)p);
    case FERRY_V_STRING: {
        const struct ferry_str *s = p;
        return json_bytes(s->s, (size_t)s->len);
    }
    default: return json_null();
    }
}

json_t *json_meta_value(const struct ferry_value *v, uint64_t max_items)
{
    json_t *o = json_object();
    if (v->type == FERRY_V_STRING) {
        json_object_set_new(o, "type", json_string("string"));
        json_object_set_new(o, "value", json_bytes(v->v.str.s, (size_t)v->v.str.len));
        return o;
    }
    if (v->type != FERRY_V_ARRAY) {
        json_object_set_new(o, "type", json_string(ferry_vtype_name(v->type)));
        union {
            uint8_t u8;
            int8_t i8;
            uint16_t u16;
            int16_t i16;
            uint32_t u32;
            int32_t i32;
            uint64_t u64;
            int64_t i64;
            float f32;
            double f64;
            struct ferry_str str; /* keeps the union as large as any scalar() input */
        } x;
        memset(&x, 0, sizeof(x));
        switch (v->type) {
        case FERRY_V_U8:
        case FERRY_V_BOOL: x.u8 = (uint8_t)v->v.u; break;
        case FERRY_V_I8: x.i8 = (int8_t)v->v.i; break;
        case FERRY_V_U16: x.u16 = (uint16_t)v->v.u; break;
        case FERRY_V_I16: x.i16 = (int16_t)v->v.i; break;
        case FERRY_V_U32: x.u32 = (uint32_t)v->v.u; break;
        case FERRY_V_I32: x.i32 = (int32_t)v->v.i; break;
        case FERRY_V_U64: x.u64 = v->v.u; break;
        case FERRY_V_I64: x.i64 = v->v.i; break;
        case FERRY_V_F32: x.f32 = (float)v->v.f; break;
        case FERRY_V_F64: x.f64 = v->v.f; break;
        default: break;
        }
        json_object_set_new(o, "value", scalar(v->type, &x));
        return o;
    }
    json_object_set_new(o, "type", json_string("array"));
    json_object_set_new(o, "element_type", json_string(ferry_vtype_name(v->elem_type)));
    if (v->count > max_items) {
        json_object_set_new(o, "count", json_integer((json_int_t)v->count));
        return o;
    }
    json_t *a = json_array();
    uint32_t es = v->elem_type == FERRY_V_STRING ? (uint32_t)sizeof(struct ferry_str)
                                                 : ferry_vtype_size(v->elem_type);
    for (uint64_t i = 0; i < v->count; i++)
        json_array_append_new(a, scalar(v->elem_type, (const uint8_t *)v->arr + i * es));
    json_object_set_new(o, "value", a);
    return o;
}

void format_meta_value(const struct ferry_value *v, char *buf, size_t n)
{
    if (v->type == FERRY_V_ARRAY) {
        snprintf(buf, n, "[%llu %s]", (unsigned long long)v->count, ferry_vtype_name(v->elem_type));
        return;
    }
    json_t *j = json_meta_value(v, 0);
    char *s = json_dumps(json_object_get(j, "value"), JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
    snprintf(buf, n, "%s", s ? s : "?");
    if (strlen(buf) > 72) strcpy(buf + 69, "...");
    free(s);
    json_decref(j);
}

int parse_uint_opt(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || s[0] == '-' || v > max) {
        errorf("%s: invalid value '%s' (a whole number up to %llu)", opt, s,
               (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void text_out_init(struct text_out *t, FILE *f)
{
    t->f = f;
    t->tty = isatty(fileno(f));
    t->npend = 0;
}

static void escape_byte(FILE *f, unsigned char c)
{
    fprintf(f, "\\x%02X", c);
}

/* Length of the UTF-8 sequence c starts (0: not a lead byte). */
static size_t seq_len(unsigned char c)
{
    return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
}

void text_out_write(struct text_out *t, const char *s, size_t n)
{
    if (!t->tty) {
        fwrite(s, 1, n, t->f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (t->npend) {
            if ((c >> 6) == 2) {
                t->pend[t->npend++] = c;
                if (t->npend == seq_len(t->pend[0])) {
                    json_t *probe = json_stringn((const char *)t->pend, t->npend); /* overlong? */
                    if (probe)
                        fwrite(t->pend, 1, t->npend, t->f);
                    else
                        for (size_t k = 0; k < t->npend; k++) escape_byte(t->f, t->pend[k]);
                    json_decref(probe);
                    t->npend = 0;
                }
                continue;
            }
            text_out_flush(t); /* the sequence broke off */
        }
        size_t l = seq_len(c);
        if (l == 1) {
            if (c >= 0x20 && c != 0x7f)
                putc(c, t->f);
            else if (c == '\n' || c == '\t')
                putc(c, t->f);
            else
                escape_byte(t->f, c);
        } else if (l > 1) {
            t->pend[0] = c, t->npend = 1;
        } else {
            escape_byte(t->f, c);
        }
    }
}

void text_out_flush(struct text_out *t)
{
    for (size_t k = 0; k < t->npend; k++) escape_byte(t->f, t->pend[k]);
    t->npend = 0;
}

FILE *pager_open(void)
{
    if (g_opts.json || !isatty(1)) return stdout;
    const char *pager = getenv("PAGER");
    if (!pager) pager = "less";
    if (!*pager || !strcmp(pager, "cat")) return stdout;
    setenv("LESS", "FRX", 0);
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN); /* quitting the pager early is not an error */
    FILE *f = popen(pager, "w");
    return f ? f : stdout;
}

void pager_close(FILE *f)
{
    if (f && f != stdout) pclose(f);
}
