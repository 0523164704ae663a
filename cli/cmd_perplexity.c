/* ferry perplexity MODEL TEXTFILE: perplexity as llama-perplexity computes it, and its KL
 * divergence mode against a saved reference. */
#include "commands.h"
#include "model_args.h"
#include "output.h"
#include "ferry/file.h"
#include "ferry/model.h"
#include "ferry/perplexity.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry perplexity MODEL TEXTFILE [--ctx N] [--chunks N] [--kl-divergence-base F]\n"
    "                        [--threads N] [--json] [--force]\n"
    "       ferry perplexity MODEL --kl-divergence-base F --kl-divergence [--chunks N]\n\n"
    "Perplexity as llama-perplexity computes it: the text, tokenized with BOS first, is cut\n"
    "into chunks of N tokens (default 512), each evaluated from position 0 with BOS in its first\n"
    "place, and the second half of each chunk is scored (at least two chunks are needed). Prints\n"
    "the running perplexity after each chunk ([1]x,[2]y,...) and the final estimate with its\n"
    "standard error.\n\n"
    "  --kl-divergence-base F  with a text: also save the model's log-probs of the scored\n"
    "                    tokens to F in llama-perplexity's format, as a reference\n"
    "  --kl-divergence   with --kl-divergence-base F: run over F's tokens (no text) and report\n"
    "                    this model's perplexity beside the reference's and its KL divergence\n"
    "                    from it (mean, percentiles), RMS of the probability change of the\n"
    "                    scored token and how often the top token agrees\n"
    "  --chunks N        at most N chunks\n"
    "  --ctx N           tokens per chunk (default 512; the base file's with --kl-divergence)\n"
    "  --threads N       threads of the forward pass (default: all cores)\n"
    "  --force           replace an existing --kl-divergence-base file\n"
    "  --json            one JSON document\n";

static void on_chunk(void *ctx, uint32_t done, uint32_t chunks, double ppl)
{
    (void)ctx;
    if (g_opts.json) return;
    printf("[%u]%.4f,%s", done, ppl, done == chunks ? "\n" : "");
    fflush(stdout);
}

static void print_kld(const struct ferry_ppl_result *r)
{
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r->ppl, r->ppl_err);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r->ppl_base, r->ppl_base_err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * r->cor_ln_ppl);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r->mean_ln_ratio,
           r->mean_ln_ratio_err);
    printf("Mean    KLD: %10.6f ± %10.6f\n", r->kld_mean, r->kld_err);
    printf("Maximum KLD: %10.6f\n99.9%%   KLD: %10.6f\n99.0%%   KLD: %10.6f\n", r->kld_max,
           r->kld_p999, r->kld_p99);
    printf("90.0%%   KLD: %10.6f\nMedian  KLD: %10.6f\n10.0%%   KLD: %10.6f\n", r->kld_p90,
           r->kld_median, r->kld_p10);
    printf(" 1.0%%   KLD: %10.6f\nMinimum KLD: %10.6f\n", r->kld_p1, r->kld_min);
    printf("RMS Δp    : %6.3f %%\nSame top p: %6.3f %%\n", 100.0 * r->dp_rms, 100.0 * r->same_top);
}

static json_t *result_json(const struct ferry_ppl_result *r, double seconds)
{
    json_t *doc =
        json_pack("{s:f, s:f, s:I, s:i, s:i}", "perplexity", r->ppl, "error", r->ppl_err, "tokens",
                  (json_int_t)r->count, "chunks", (int)r->chunks, "ctx", (int)r->ctx);
    json_object_set_new(doc, "seconds", json_real(seconds));
    if (r->kld)
        json_object_set_new(
            doc, "kl_divergence",
            json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
                      "ppl_base", r->ppl_base, "ppl_base_error", r->ppl_base_err, "cor_ln_ppl",
                      r->cor_ln_ppl, "mean_ln_ratio", r->mean_ln_ratio, "mean", r->kld_mean,
                      "error", r->kld_err, "max", r->kld_max, "p99_9", r->kld_p999, "p99",
                      r->kld_p99, "median", r->kld_median, "p1", r->kld_p1, "min", r->kld_min,
                      "rms_dp", r->dp_rms, "same_top", r->same_top));
    return doc;
}

int cmd_perplexity(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ctx", required_argument, NULL, 'c'},
        {"chunks", required_argument, NULL, 'n'},
        {"kl-divergence-base", required_argument, NULL, 'b'},
        {"kl-divergence", no_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t ctx = 512, threads = 0, chunks = 0;
    const char *base = NULL;
    int kld = 0, force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (parse_uint_opt("--ctx", optarg, 1u << 20, &ctx) || ctx < 8) return EXIT_USAGE;
            break;
        case 'n':
            if (parse_uint_opt("--chunks", optarg, 1u << 30, &chunks)) return EXIT_USAGE;
            break;
        case 'b': base = optarg; break;
        case 'k': kld = 1; break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 256, &threads)) return EXIT_USAGE;
            break;
        case 'f': force = 1; break;
        case 'j': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (kld && !base) {
        errorf("--kl-divergence compares with a reference: give it with --kl-divergence-base F");
        return EXIT_USAGE;
    }
    if (optind != argc - (kld ? 1 : 2)) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    struct ferry_error err;
    ferry_error_clear(&err);
    uint32_t use_ctx = (uint32_t)ctx;
    if (kld && ferry_perplexity_base_ctx(base, &use_ctx, &err)) return report_error(&err);
    char *text = NULL;
    int code = kld ? 0 : read_text(argv[optind + 1], &text);
    if (code) return code;
    struct ferry_model *m = NULL;
    int32_t *ids = NULL;
    int n = 0;
    code = load_model(argv[optind], use_ctx, (unsigned)threads, &m);
    if (!code && !kld) code = tokenize_prompt(m, text, 0, 0, &ids, &n);
    free(text);
    if (!code) {
        int32_t bos = n ? ids[0] : -1; /* with a base file: its first token */
        struct ferry_ppl_opts o = {.ctx = use_ctx,
                                   .max_chunks = (uint32_t)chunks,
                                   .bos = bos,
                                   .base_out = kld ? NULL : base,
                                   .base_in = kld ? base : NULL,
                                   .force = force,
                                   .chunk = on_chunk};
        struct ferry_ppl_result r;
        double t0 = now_seconds();
        if (ferry_perplexity(m, ids, (uint64_t)(n > 0 ? n : 0), &o, &r, &err)) {
            code = report_error(&err);
        } else if (g_opts.json) {
            out_json(result_json(&r, now_seconds() - t0));
        } else {
            double s = now_seconds() - t0;
            notef("%.2f seconds per pass, %.1f tokens/s", s / r.chunks,
                  (double)r.chunks * r.ctx / s);
            printf("Final estimate: PPL = %.4f +/- %.5f (%llu tokens, %u chunks of %u)\n", r.ppl,
                   r.ppl_err, (unsigned long long)r.count, r.chunks, r.ctx);
            if (r.kld) print_kld(&r);
            if (base && !kld) notef("wrote %s", base);
        }
    }
    free(ids);
    ferry_model_free(m);
    return code;
}
