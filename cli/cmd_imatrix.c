/* ferry imatrix MODEL TEXTFILE -o F: an importance matrix computed with the forward pass over a
 * text, in llama-imatrix's GGUF format, for ferry convert --imatrix or llama-quantize. */
#include "commands.h"
#include "model_args.h"
#include "output.h"
#include "progress.h"
#include "ferry/file.h"
#include "ferry/imatrix.h"
#include "ferry/model.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry imatrix MODEL (TEXTFILE | --ids-file F) [-o F] [--ctx N] [--chunks N]\n"
    "                     [--threads N] [--force]\n\n"
    "Computes an importance matrix as llama-imatrix does: the text (tokenized with BOS first)\n"
    "is cut into chunks of N tokens (default 512), each evaluated from position 0 with BOS in\n"
    "its first place, and for every weight of the blocks the squares of its input are summed\n"
    "per column over the tokens. Written in llama-imatrix's GGUF format (NAME.in_sum2,\n"
    "NAME.counts, imatrix.datasets/chunk_count/chunk_size), which ferry convert --imatrix and\n"
    "llama-quantize --imatrix read.\n\n"
    "  --ids-file F      token ids instead of a text (separated by spaces, commas or newlines;\n"
    "                    BOS first), for a model without a tokenizer (a llama2.c checkpoint)\n"
    "  -o, --output F    the file to write (default imatrix.gguf)\n"
    "  --ctx N           tokens per chunk (default 512, at most the model's context)\n"
    "  --chunks N        at most N chunks (default: every whole chunk of the text; at least two\n"
    "                    are needed)\n"
    "  --threads N       threads of the forward pass (default: all cores)\n"
    "  --force           replace an existing output\n"
    "  -q, -v            quieter, more verbose\n";

static void on_chunk(void *ctx, uint32_t done, uint32_t chunks)
{
    struct progress *p = ctx;
    progress_add(p, 1);
    debugf("chunk %u of %u", done, chunks);
}

int cmd_imatrix(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"ctx", required_argument, NULL, 'c'},
        {"chunks", required_argument, NULL, 'n'}, {"threads", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},        {"ids-file", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *out = "imatrix.gguf", *ids_file = NULL;
    uint64_t ctx = 512, chunks = 0, threads = 0;
    int force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'c':
            if (parse_uint_opt("--ctx", optarg, 1u << 20, &ctx)) return EXIT_USAGE;
            break;
        case 'n':
            if (parse_uint_opt("--chunks", optarg, 1u << 30, &chunks)) return EXIT_USAGE;
            break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 256, &threads)) return EXIT_USAGE;
            break;
        case 'f': force = 1; break;
        case 'i': ids_file = optarg; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - (ids_file ? 1 : 2)) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *text_path = ids_file ? ids_file : argv[optind + 1];
    struct ferry_error err;
    ferry_error_clear(&err);
    char *z;
    int code = read_text(text_path, &z);
    if (code) return code;
    struct ferry_model *m = NULL;
    int32_t *ids = NULL;
    int n = 0;
    code = load_model(argv[optind], (uint32_t)ctx, (unsigned)threads, &m);
    if (!code && ids_file && (n = parse_ids(z, &ids)) <= 0) {
        errorf("%s: no token ids in it (numbers separated by spaces, commas or newlines)",
               ids_file);
        code = EXIT_MALFORMED;
    } else if (!code && !ids_file) {
        code = tokenize_prompt(m, z, 0, 0, &ids, &n);
    }
    free(z);
    struct ferry_imatrix_acc *acc = NULL;
    if (!code) {
        uint32_t whole = (uint32_t)((size_t)n / ctx);
        struct progress prog;
        progress_start(&prog, "chunks", chunks && chunks < whole ? chunks : whole);
        int rc = ferry_imatrix_compute(m, ids, (size_t)n, n ? ids[0] : -1, (uint32_t)ctx,
                                       (uint32_t)chunks, on_chunk, &prog, &acc, &err);
        progress_end(&prog);
        if (!rc) rc = ferry_imatrix_write(out, acc, text_path, force, &err);
        if (rc) code = report_error(&err);
    }
    if (!code)
        notef("wrote %s: %zu weights over %d chunks of %u tokens", out, acc->n, acc->chunks,
              acc->chunk_size);
    ferry_imatrix_acc_free(acc);
    free(ids);
    ferry_model_free(m);
    return code;
}
