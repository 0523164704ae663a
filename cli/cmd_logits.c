/* ferry logits MODEL (-p PROMPT | --ids 1,2,3) [--all-positions] -o F.npy: the forward pass's
 * float32 logits as a [positions, vocab] array. */
#include "commands.h"
#include "model_args.h"
#include "output.h"
#include "ferry/logit_check.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage_text[] =
    "usage: ferry logits MODEL (-p PROMPT | --ids 1,2,3) [--all-positions] -o F.npy\n"
    "                    [--no-bos] [--threads N] [--ctx N] [--force]\n\n"
    "Writes the logits of the last position (or of every position) as float32 .npy with\n"
    "shape [positions, vocab]. MODEL is a GGUF file, a Hugging Face or Meta directory or a\n"
    "llama2.c .bin.\n"
    "  -p, --prompt TEXT   the text to evaluate (or --ids with token ids)\n"
    "  -o, --output F.npy  where to write the logits\n";

int cmd_logits(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prompt", required_argument, NULL, 'p'},  {"ids", required_argument, NULL, 'i'},
        {"all-positions", no_argument, NULL, 'a'}, {"output", required_argument, NULL, 'o'},
        {"no-bos", no_argument, NULL, 'b'},        {"threads", required_argument, NULL, 't'},
        {"ctx", required_argument, NULL, 'c'},     {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},         {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *prompt = NULL, *ids_s = NULL, *out = NULL;
    int all = 0, no_bos = 0, force = 0, c;
    uint64_t threads = 0, ctx = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'i': ids_s = optarg; break;
        case 'a': all = 1; break;
        case 'o': out = optarg; break;
        case 'b': no_bos = 1; break;
        case 'f': force = 1; break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 256, &threads)) return EXIT_USAGE;
            break;
        case 'c':
            if (parse_uint_opt("--ctx", optarg, 1u << 24, &ctx)) return EXIT_USAGE;
            break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !out || !!prompt == !!ids_s) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    int32_t *ids = NULL;
    int n = 0;
    if (ids_s && (n = parse_ids(ids_s, &ids)) <= 0) {
        errorf("--ids needs comma-separated token ids");
        free(ids);
        return EXIT_USAGE;
    }
    struct ferry_model *m;
    int code = load_model(argv[optind], (uint32_t)ctx, (unsigned)threads, &m);
    if (code) {
        free(ids);
        return code;
    }
    if (prompt && (code = tokenize_prompt(m, prompt, no_bos, 1, &ids, &n))) {
        ferry_model_free(m);
        return code;
    }
    const struct ferry_model_info *in = ferry_model_get_info(m);
    uint64_t rows = all ? (uint64_t)n : 1;
    float *logits = malloc(rows * in->n_vocab * sizeof(float));
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!logits)
        code = report_error(&(struct ferry_error){
            .code = FERRY_EINTERNAL, .offset = FERRY_NO_OFFSET, .cause = "out of memory"});
    else if (ferry_model_eval(m, ids, (uint32_t)n, 0, logits, all, &err))
        code = report_error(&err);
    else {
        if (ferry_logits_save(out, force, logits, rows, in->n_vocab, &err))
            code = report_error(&err);
        else
            notef("wrote %s (%llu x %u logits)", out, (unsigned long long)rows, in->n_vocab);
    }
    free(logits);
    free(ids);
    ferry_model_free(m);
    return code;
}
