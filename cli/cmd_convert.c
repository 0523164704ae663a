/* ferry convert SRC -o DST [--to FORMAT] --raw: container conversion. Model-aware
 * conversion (naming maps, Q/K permutation, quantization) is not built yet. */
#include "commands.h"
#include "output.h"
#include "ferry/convert.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry convert SRC -o DST --raw [--to gguf|safetensors|pytorch] [--force]\n\n"
    "  -o, --output DST  output file (format from --to or the extension:\n"
    "                    .gguf, .safetensors, .pt/.pth/.bin)\n"
    "  --to FORMAT       gguf, safetensors or pytorch\n"
    "  --raw             any tensor dictionary, names, dtypes and shapes unchanged\n"
    "  --force           overwrite an existing output\n"
    "  -q, -v            quieter, more verbose\n\n"
    "Model-aware conversion (Hugging Face / Meta layouts, --type quantization) is not built\n"
    "yet; --raw is required.\n";

int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"to", required_argument, NULL, 'T'},
        {"raw", no_argument, NULL, 'r'},          {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *to = NULL;
    int raw = 0, force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'T': to = optarg; break;
        case 'r': raw = 1; break;
        case 'f': force = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !out) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if (!raw) {
        errorf("model-aware conversion is not built yet; use --raw for container conversion");
        return EXIT_USAGE;
    }
    enum ferry_container fmt = to ? ferry_container_from_name(to) : ferry_container_from_path(out);
    if (fmt == FERRY_FMT_NONE) {
        errorf("%s: cannot tell the output format; use --to gguf|safetensors|pytorch",
               to ? to : out);
        return EXIT_USAGE;
    }
    struct ferry_ckpt ck;
    struct ferry_error err;
    ferry_ckpt_init(&ck);
    ferry_error_clear(&err);
    int rc = ferry_ckpt_open(&ck, argv[optind], &err);
    if (!rc) rc = ferry_convert_raw(&ck, out, fmt, force, &err);
    int code = rc ? report_error(&err) : EXIT_OK;
    if (!rc) notef("wrote %s (%llu tensors)", out, (unsigned long long)ck.ntensors);
    ferry_ckpt_free(&ck);
    return code;
}
