/* ferry check CANDIDATE (--ref MODEL | --expect F.npy): per-position logits of a converted
 * model against a reference; exit 1 out of tolerance. */
#include "commands.h"
#include "model_args.h"
#include "output.h"
#include "ferry/ckpt.h"
#include "ferry/logit_check.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry check CANDIDATE (--ref MODEL | --expect F.npy)\n"
    "                   (-p PROMPT | --ids 1,2,3 | --prompt-file F) [--max-kl X] [--min-top1 Y]\n"
    "                   [--ctx N] [--json] [--threads N]\n\n"
    "Runs both models (or reads the expected [positions, vocab] logits) over the prompt and\n"
    "prints the largest absolute logit difference, the mean KL divergence, top-1 agreement and\n"
    "both perplexities. Defaults by the candidate's weight type: F32 KL <= 1e-6 and 100% top-1,\n"
    "F16/BF16 1e-3 and 98%, Q8_0 5e-3 and 95%, others 0.1 and 80%. Exit 1 out of tolerance.\n"
    "A text longer than --ctx tokens (default 512; a whole --prompt-file) is checked window by\n"
    "window, each BOS and the next N-1 tokens, every position counted once.\n";

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        char *p = realloc(buf, len + got + 1);
        if (!p) break;
        buf = p;
        memcpy(buf + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf ? buf : calloc(1, 1);
}

/* All-position logits of one model over ids (malloc'ed), or NULL after printing the error. */
static float *model_logits(const char *path, const int32_t *ids, int n, unsigned threads,
                           uint32_t *nvocab, const char **wtype, int *code)
{
    struct ferry_model *m;
    if ((*code = load_model(path, (uint32_t)n + 1, threads, &m))) return NULL;
    const struct ferry_model_info *in = ferry_model_get_info(m);
    *nvocab = in->n_vocab;
    if (wtype) *wtype = in->weight_type; /* a static type name, valid after the model is freed */
    float *l = malloc((size_t)n * in->n_vocab * sizeof(float));
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!l || ferry_model_eval(m, ids, (uint32_t)n, 0, l, 1, &err)) {
        *code = l ? report_error(&err) : EXIT_INTERNAL;
        free(l);
        l = NULL;
    }
    ferry_model_free(m);
    return l;
}

/* Prints the comparison (or its JSON) against the tolerances; 0 within them, 1 out. */
static int report(const struct ferry_logit_stats *s, const char *wtype, double max_kl,
                  double min_top1)
{
    double dkl, dtop;
    ferry_check_defaults(wtype, &dkl, &dtop);
    if (max_kl < 0) max_kl = dkl;
    if (min_top1 < 0) min_top1 = dtop;
    int ok = s->mean_kl <= max_kl && s->top1 >= min_top1;
    if (g_opts.json)
        out_json(json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:b}", "candidate_type",
                           wtype, "positions", (int)s->positions, "max_abs_diff", s->max_abs,
                           "mean_kl", s->mean_kl, "top1", s->top1, "ppl_ref", s->ppl_ref,
                           "ppl_candidate", s->ppl_cand, "max_kl", max_kl, "min_top1", min_top1,
                           "ok", ok));
    else
        printf("positions %u, candidate %s\nmax |logit difference| %.6g\nmean KL divergence     "
               "%.6g (limit %.3g)\ntop-1 agreement        %.2f%% (limit %.2f%%)\nperplexity     "
               "        reference %.4f, candidate %.4f\n%s\n",
               s->positions, wtype, s->max_abs, s->mean_kl, max_kl, 100 * s->top1, 100 * min_top1,
               s->ppl_ref, s->ppl_cand, ok ? "OK" : "OUT OF TOLERANCE");
    return ok ? EXIT_OK : EXIT_FAIL;
}

/* A text longer than one window: windows of BOS and the next ctx-1 tokens through both
 * models, the statistics of all positions combined (KL and top-1 by position, perplexity by
 * predicted token). */
static int check_windows(const char *cand, const char *ref, const int32_t *ids, int n, uint32_t ctx,
                         unsigned threads, struct ferry_logit_stats *out, const char **wtype)
{
    struct ferry_model *mc = NULL, *mr = NULL;
    int code = load_model(cand, ctx, threads, &mc);
    if (!code) code = load_model(ref, ctx, threads, &mr);
    if (code) {
        ferry_model_free(mc);
        return code;
    }
    uint32_t V = ferry_model_get_info(mc)->n_vocab;
    *wtype = ferry_model_get_info(mc)->weight_type;
    float *lc = malloc((size_t)ctx * V * sizeof(float)),
          *lr = malloc((size_t)ctx * V * sizeof(float));
    int32_t *w = malloc(ctx * sizeof(int32_t));
    struct ferry_error err;
    ferry_error_clear(&err);
    double kl = 0, top = 0, nll_r = 0, nll_c = 0;
    uint64_t pos = 0, pred = 0;
    memset(out, 0, sizeof(*out));
    if (ferry_model_get_info(mr)->n_vocab != V) {
        errorf("vocabularies differ (%u and %u tokens)", V, ferry_model_get_info(mr)->n_vocab);
        code = EXIT_MALFORMED;
    } else if (!lc || !lr || !w) {
        errorf("out of memory");
        code = EXIT_INTERNAL;
    }
    for (int start = 1; !code && start < n; start += (int)ctx - 1) {
        uint32_t len = (uint32_t)(n - start < (int)ctx - 1 ? n - start : (int)ctx - 1) + 1;
        w[0] = ids[0]; /* BOS */
        memcpy(w + 1, ids + start, (len - 1) * sizeof(int32_t));
        if (ferry_model_eval(mc, w, len, 0, lc, 1, &err) ||
            ferry_model_eval(mr, w, len, 0, lr, 1, &err)) {
            code = report_error(&err);
            break;
        }
        struct ferry_logit_stats s;
        ferry_logit_stats_compute(lr, lc, len, V, w, &s);
        out->max_abs = s.max_abs > out->max_abs ? s.max_abs : out->max_abs;
        kl += s.mean_kl * len, top += s.top1 * len, pos += len;
        nll_r += log(s.ppl_ref) * (len - 1), nll_c += log(s.ppl_cand) * (len - 1), pred += len - 1;
    }
    if (!code) {
        out->positions = (uint32_t)pos;
        out->mean_kl = kl / (double)pos, out->top1 = top / (double)pos;
        out->ppl_ref = exp(nll_r / (double)pred), out->ppl_cand = exp(nll_c / (double)pred);
    }
    free(lc);
    free(lr);
    free(w);
    ferry_model_free(mc);
    ferry_model_free(mr);
    return code;
}

int cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ref", required_argument, NULL, 'r'},
        {"expect", required_argument, NULL, 'e'},
        {"prompt", required_argument, NULL, 'p'},
        {"ids", required_argument, NULL, 'i'},
        {"prompt-file", required_argument, NULL, 'F'},
        {"max-kl", required_argument, NULL, 'k'},
        {"min-top1", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},
        {"ctx", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ref = NULL, *expect = NULL, *prompt = NULL, *ids_s = NULL, *pfile = NULL;
    double max_kl = -1, min_top1 = -1;
    uint64_t threads = 0, wctx = 512;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:qvh", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'r': ref = optarg; break;
        case 'e': expect = optarg; break;
        case 'p': prompt = optarg; break;
        case 'i': ids_s = optarg; break;
        case 'F': pfile = optarg; break;
        case 'k': max_kl = strtod(optarg, &end); break;
        case 'T': min_top1 = strtod(optarg, &end); break;
        case 'j': g_opts.json = 1; break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 256, &threads)) return EXIT_USAGE;
            break;
        case 'c':
            if (parse_uint_opt("--ctx", optarg, 1u << 20, &wctx) || wctx < 2) return EXIT_USAGE;
            break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
        if (end && *end) {
            errorf("--max-kl and --min-top1 need numbers");
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !!ref == !!expect || (!!prompt + !!ids_s + !!pfile) != 1) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cand = argv[optind];
    int32_t *ids = NULL;
    int n = 0, code = 0;
    char *text = pfile ? slurp(pfile) : NULL;
    if (pfile && !text) {
        errorf("%s: cannot read", pfile);
        return EXIT_NOINPUT;
    }
    if (ids_s) {
        if ((n = parse_ids(ids_s, &ids)) <= 0) {
            errorf("--ids needs token ids");
            return EXIT_USAGE;
        }
    } else { /* tokenize with the candidate's tokenizer */
        struct ferry_model *m;
        if ((code = load_model(cand, 0, 1, &m))) return code;
        code = tokenize_prompt(m, text ? text : prompt, 0, text == NULL, &ids, &n);
        ferry_model_free(m);
        if (code) return code;
    }
    free(text);
    uint32_t nv_c = 0, nv_r = 0;
    const char *wtype = "F32";
    if (n > (int)wctx && expect) {
        errorf("--expect holds the logits of one window: give at most --ctx %llu tokens",
               (unsigned long long)wctx);
        free(ids);
        return EXIT_USAGE;
    }
    if (n > (int)wctx) { /* a whole text: window by window, both models loaded once */
        struct ferry_logit_stats s;
        code = check_windows(cand, ref, ids, n, (uint32_t)wctx, (unsigned)threads, &s, &wtype);
        free(ids);
        return code ? code : report(&s, wtype, max_kl, min_top1);
    }
    float *lc = model_logits(cand, ids, n, (unsigned)threads, &nv_c, &wtype, &code), *lr = NULL;
    if (lc && ref) lr = model_logits(ref, ids, n, (unsigned)threads, &nv_r, NULL, &code);
    if (lc && expect) {
        struct ferry_error err;
        ferry_error_clear(&err);
        if (ferry_logits_load(expect, (uint64_t)n, nv_c, &lr, &err))
            code = report_error(&err);
        else
            nv_r = nv_c;
    }
    if (!code && lc && lr && nv_r != nv_c) {
        errorf("vocabularies differ (%u and %u tokens)", nv_c, nv_r);
        code = EXIT_MALFORMED;
    }
    if (!code && lc && lr) {
        struct ferry_logit_stats s;
        ferry_logit_stats_compute(lr, lc, (uint32_t)n, nv_c, ids, &s);
        code = report(&s, wtype, max_kl, min_top1);
    }
    free(lc);
    free(lr);
    free(ids);
    return code;
}
