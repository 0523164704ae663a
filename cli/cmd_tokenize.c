/* ferry tokenize MODEL_OR_TOKENIZER [-p TEXT | --stdin] [--no-bos] [--no-parse-special]: token
 * ids, space-separated. */
#include "commands.h"
#include "model_args.h"
#include "output.h"
#include "ferry/tokenizer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry tokenize MODEL_OR_TOKENIZER [-p|--prompt TEXT | --stdin] [--no-bos]\n"
    "                      [--no-parse-special]\n"
    "                      [--json]\n"
    "       ferry tokenize MODEL_OR_TOKENIZER --decode 1,2,3\n\n"
    "Prints the token ids of TEXT, space-separated, or with --decode the text of ids. The\n"
    "tokenizer comes from a GGUF file, tokenizer.model (sentencepiece or Llama 3 tiktoken),\n"
    "tokenizer.json, llama2.c tokenizer.bin or a model directory. Texts of control tokens in\n"
    "TEXT (e.g. <|eot_id|>, <s>) become those tokens unless --no-parse-special, as with\n"
    "llama.cpp's tools; ferry run, logits and check -p do the same (chat messages and\n"
    "perplexity texts never).\n";

int cmd_tokenize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prompt", required_argument, NULL, 'p'}, {"stdin", no_argument, NULL, 's'},
        {"no-bos", no_argument, NULL, 'b'},       {"no-parse-special", no_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},         {"decode", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *text = NULL, *decode = NULL;
    int from_stdin = 0, no_bos = 0, parse_special = 1, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': text = optarg; break;
        case 's': from_stdin = 1; break;
        case 'b': no_bos = 1; break;
        case 'S': parse_special = 0; break;
        case 'j': g_opts.json = 1; break;
        case 'd': decode = optarg; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || (!!text + from_stdin + !!decode) != 1) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    char *buf = NULL;
    size_t len = 0;
    if (from_stdin) {
        size_t cap = 0;
        char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
            char *p = realloc(buf, cap = len + got + 1);
            if (!p) break;
            buf = p;
            memcpy(buf + len, chunk, got);
            len += got;
        }
        (void)cap;
        text = buf ? buf : "";
    } else if (text)
        len = strlen(text);
    struct ferry_tokenizer *t;
    struct ferry_error err;
    ferry_error_clear(&err);
    int code = EXIT_OK;
    if (ferry_tokenizer_load(argv[optind], &t, &err)) {
        free(buf);
        return report_error(&err);
    }
    int32_t *ids;
    size_t n;
    if (decode) {
        int cnt = parse_ids(decode, &ids);
        if (cnt < 0) {
            errorf("--decode needs token ids");
            code = EXIT_USAGE;
        }
        for (int i = 0; i < cnt; i++) {
            char piece[512];
            /* the first piece follows BOS: sentencepiece drops its dummy-prefix space */
            size_t pl = ferry_token_text(t, i ? ids[i - 1] : ferry_tokenizer_bos(t), ids[i], piece,
                                         sizeof(piece));
            fwrite(piece, 1, pl, stdout);
        }
        if (cnt >= 0) {
            putchar('\n');
            free(ids);
        }
    } else if (ferry_tokenize_ex(t, text, len, !no_bos, parse_special, &ids, &n, &err))
        code = report_error(&err);
    else {
        if (g_opts.json) {
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
            out_json(json_pack("{s:o}", "ids", a));
        } else {
            for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
            putchar('\n');
        }
        free(ids);
    }
    ferry_tokenizer_free(t);
    free(buf);
    return code;
}
