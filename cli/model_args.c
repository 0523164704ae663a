/* Model loading and prompt handling shared by run, logits, check and perplexity. */
#include "model_args.h"
#include "ferry/file.h"
#include "output.h"
#include "ferry/tokenizer.h"

#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int read_text(const char *path, char **text)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    uint8_t *raw = NULL;
    size_t len = 0;
    *text = NULL;
    if (ferry_read_file(path, (uint64_t)1 << 32, &raw, &len, &err)) return report_error(&err);
    if (!(*text = realloc(raw, len + 1))) {
        free(raw);
        errorf("out of memory");
        return EXIT_INTERNAL;
    }
    (*text)[len] = 0;
    return 0;
}

int parse_ids(const char *s, int32_t **ids)
{
    size_t cap = 16, n = 0;
    int32_t *a = malloc(cap * sizeof(*a));
    if (!a) return -1;
    const char *p = s;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) {
            free(a);
            return -1;
        }
        if (n == cap) {
            int32_t *b = realloc(a, (cap *= 2) * sizeof(*a));
            if (!b) {
                free(a);
                return -1;
            }
            a = b;
        }
        a[n++] = (int32_t)v;
        p = end;
    }
    *ids = a;
    return (int)n;
}

int load_model(const char *path, uint32_t ctx, unsigned threads, struct ferry_model **m)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_model_load(m, path, ctx, threads, &err)) return report_error(&err);
    return 0;
}

int tokenize_prompt(const struct ferry_model *m, const char *text, int no_bos, int parse_special,
                    int32_t **ids, int *n)
{
    const struct ferry_vocab *v = ferry_model_vocab(m);
    if (!v) {
        errorf("the model has no tokenizer: give token ids with --ids");
        return EXIT_USAGE;
    }
    struct ferry_tokenizer *t;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_tokenizer_new(v, &t, &err)) return report_error(&err);
    size_t cnt;
    int rc = ferry_tokenize_ex(t, text, strlen(text), !no_bos, parse_special, ids, &cnt, &err);
    ferry_tokenizer_free(t);
    if (rc) return report_error(&err);
    *n = (int)cnt;
    return 0;
}
