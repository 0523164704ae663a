/* ferry perplexity MODEL TEXTFILE [--ctx N]: perplexity of the model over a text, in
 * independent windows of N tokens (each starting with BOS). */
#include "commands.h"
#include "model_args.h"
#include "output.h"
#include "ferry/logit_check.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry perplexity MODEL TEXTFILE [--ctx N] [--threads N] [--json]\n\n"
    "Tokenizes the text, scores it in windows of N tokens (default 512, at most the model's\n"
    "context) and prints the perplexity exp(mean negative log-likelihood).\n";

int cmd_perplexity(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ctx", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t ctx = 512, threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (parse_uint_opt("--ctx", optarg, 1u << 20, &ctx) || ctx < 2) return EXIT_USAGE;
            break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 256, &threads)) return EXIT_USAGE;
            break;
        case 'j': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    FILE *f = fopen(argv[optind + 1], "rb");
    if (!f) {
        errorf("%s: cannot open", argv[optind + 1]);
        return EXIT_NOINPUT;
    }
    char *text = NULL;
    size_t len = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        char *p = realloc(text, len + got + 1);
        if (!p) break;
        text = p;
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!text) text = calloc(1, 1);
    text[len] = 0;
    struct ferry_model *m;
    int code = load_model(argv[optind], (uint32_t)ctx, (unsigned)threads, &m);
    int32_t *ids = NULL;
    int n = 0;
    if (!code) code = tokenize_prompt(m, text, 1, 0, &ids, &n);
    free(text);
    if (code) {
        if (m && !code) ferry_model_free(m);
        return code;
    }
    const struct ferry_model_info *in = ferry_model_get_info(m);
    uint32_t win = (uint32_t)ctx < in->n_ctx_alloc ? (uint32_t)ctx : in->n_ctx_alloc;
    float *logits = malloc((size_t)win * in->n_vocab * sizeof(float));
    int32_t *w = malloc((size_t)win * sizeof(int32_t));
    double nll = 0;
    uint64_t count = 0;
    struct ferry_error err;
    ferry_error_clear(&err);
    int32_t bos = ids[0];
    /* windows: BOS + up to win-1 text tokens each */
    for (int start = 1; !code && start < n; start += (int)win - 1) {
        int len2 = n - start < (int)win - 1 ? n - start : (int)win - 1;
        w[0] = bos;
        memcpy(w + 1, ids + start, (size_t)len2 * sizeof(int32_t));
        if (ferry_model_eval(m, w, (uint32_t)len2 + 1, 0, logits, 1, &err)) {
            code = report_error(&err);
            break;
        }
        for (int t = 0; t < len2; t++)
            nll += ferry_nll(logits + (size_t)t * in->n_vocab, in->n_vocab, w[t + 1]);
        count += (uint64_t)len2;
    }
    if (!code) {
        double ppl = count ? exp(nll / (double)count) : 0;
        if (g_opts.json)
            out_json(json_pack("{s:f, s:I, s:i}", "perplexity", ppl, "tokens", (json_int_t)count,
                               "window", win));
        else
            printf("perplexity %.4f over %llu tokens (windows of %u)\n", ppl,
                   (unsigned long long)count, win);
    }
    free(logits);
    free(w);
    free(ids);
    ferry_model_free(m);
    return code;
}
