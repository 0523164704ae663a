/* ferry run MODEL: generate text with the reference forward pass, streaming it, with greedy or
 * seeded sampling and the Llama 2 chat format built in (chat templates are never executed). */
#include "commands.h"
#include "model_args.h"
#include "output.h"
#include "ferry/hash.h"
#include "ferry/generate.h"
#include "ferry/sampler.h"
#include "ferry/tokenizer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: ferry run MODEL [-p|--prompt PROMPT | --ids 1,2,3] [-n|--tokens N] [--temp T]\n"
    "                 [--top-k K]\n"
    "                 [--top-p P] [--seed S] [--chat [--system S]] [--no-bos] [--no-stream]\n"
    "                 [--json] [--threads N] [--ctx N]\n\n"
    "Generates up to N tokens (default 128) after the prompt (default: just BOS). --temp 0 is\n"
    "greedy; otherwise sampling is deterministic for a given --seed. --chat wraps the prompt in\n"
    "the Llama 2 chat or Llama 3 instruct format (chosen by the vocabulary). Prompt and\n"
    "generation speed go to stderr.\n";

/* Each generated token as the user sees it: its text appended (and streamed), or its id. */
struct run_view {
    const struct ferry_tokenizer *tok;
    int32_t prev;
    char *text;
    size_t len;
    uint64_t count;
    int stream;
    int failed;
    struct text_out out;
};

static void on_token(void *ctx, int32_t id)
{
    struct run_view *v = ctx;
    v->count++;
    if (v->tok) {
        char piece[256];
        size_t pl = ferry_token_text(v->tok, v->prev, id, piece, sizeof(piece));
        char *grown = realloc(v->text, v->len + pl + 1);
        if (!grown) {
            v->failed = 1;
        } else {
            v->text = grown;
            memcpy(v->text + v->len, piece, pl);
            v->len += pl;
            v->text[v->len] = 0;
        }
        if (v->stream) {
            text_out_write(&v->out, piece, pl);
            fflush(stdout);
        }
    } else if (v->stream) {
        printf("%s%d", v->count > 1 ? " " : "", id);
        fflush(stdout);
    }
    v->prev = id;
}

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"prompt", required_argument, NULL, 'p'},  {"ids", required_argument, NULL, 'i'},
        {"tokens", required_argument, NULL, 'n'},  {"temp", required_argument, NULL, 'T'},
        {"top-k", required_argument, NULL, 'k'},   {"top-p", required_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 's'},    {"chat", no_argument, NULL, 'C'},
        {"system", required_argument, NULL, 'S'},  {"no-bos", no_argument, NULL, 'b'},
        {"no-stream", no_argument, NULL, 'N'},     {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'}, {"ctx", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},         {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *prompt = NULL, *ids_s = NULL, *system = NULL;
    uint64_t ntok = 128, topk = 40, seed = (uint64_t)time(NULL), threads = 0, ctx = 0;
    double temp = 0.8, topp = 0.95;
    int chat = 0, no_bos = 0, stream = 1, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:n:qvh", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'i': ids_s = optarg; break;
        case 'n':
            if (parse_uint_opt("-n", optarg, 1u << 24, &ntok)) return EXIT_USAGE;
            break;
        case 'T': temp = strtod(optarg, &end); break;
        case 'P': topp = strtod(optarg, &end); break;
        case 'k':
            if (parse_uint_opt("--top-k", optarg, 1u << 24, &topk)) return EXIT_USAGE;
            break;
        case 's':
            if (parse_uint_opt("--seed", optarg, UINT64_MAX, &seed)) return EXIT_USAGE;
            break;
        case 'C': chat = 1; break;
        case 'S': system = optarg; break;
        case 'b': no_bos = 1; break;
        case 'N': stream = 0; break;
        case 'j': g_opts.json = 1; break;
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
        if (end && (*end || temp < 0 || topp < 0 || topp > 1)) {
            errorf("--temp needs a number >= 0 and --top-p one in [0, 1]");
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || (prompt && ids_s)) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    struct ferry_model *m;
    int code = load_model(argv[optind], (uint32_t)ctx, (unsigned)threads, &m);
    if (code) return code;
    const struct ferry_model_info *in = ferry_model_get_info(m);
    if (ctx > in->n_ctx)
        warnf("--ctx %lld is beyond the model's context of %u positions: using %u", (long long)ctx,
              in->n_ctx, in->n_ctx_alloc);
    const struct ferry_vocab *vocab = ferry_model_vocab(m);
    struct ferry_tokenizer *tok = NULL;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (vocab && ferry_tokenizer_new(vocab, &tok, &err)) {
        ferry_model_free(m);
        return report_error(&err);
    }
    int32_t *ids = NULL;
    int n = 0;
    int32_t eot = tok ? ferry_token_id(tok, "<|eot_id|>") : -1;
    if (chat && prompt && !tok) {
        errorf("--chat needs the model's tokenizer");
        code = EXIT_USAGE;
    } else if (chat && prompt) {
        size_t cnt;
        if (ferry_chat_prompt(tok, system, prompt, &ids, &cnt, &err))
            code = report_error(&err);
        else
            n = (int)cnt;
        prompt = NULL;
    }
    if (ids || code) {
        /* the chat prompt, built above, or its error */
    } else if (ids_s) {
        if ((n = parse_ids(ids_s, &ids)) <= 0) code = EXIT_USAGE, errorf("--ids needs token ids");
    } else if (prompt) {
        code = tokenize_prompt(m, prompt, no_bos, 1, &ids, &n);
    } else {
        ids = malloc(sizeof(int32_t));
        if (ids)
            ids[0] = tok && ferry_tokenizer_bos(tok) >= 0 ? ferry_tokenizer_bos(tok) : 1, n = 1;
    }
    char *text = calloc(1, 1);
    struct run_view v = {.tok = tok,
                         .prev = ids && n ? ids[n - 1] : -1,
                         .text = text,
                         .stream = stream && !g_opts.json};
    text_out_init(&v.out, stdout);
    if (!code && n <= 0) code = EXIT_USAGE;
    if (!code && !text) code = EXIT_INTERNAL, errorf("out of memory");
    struct ferry_sampler smp;
    ferry_sampler_init(&smp, (float)temp, (uint32_t)topk, (float)topp, seed);
    int32_t stops[2] = {tok ? ferry_tokenizer_eos(tok) : -1, eot};
    struct ferry_generate_opts go = {(uint32_t)ntok, &smp, stops, tok ? 2 : 0, on_token, &v};
    struct ferry_generate_result gr = {0};
    if (!code && ferry_generate(m, ids, (uint32_t)n, &go, &gr, &err)) code = report_error(&err);
    if (!code && v.failed) code = EXIT_INTERNAL, errorf("out of memory");
    text = v.text;
    size_t text_len = v.len;
    uint64_t ngen = gr.n;
    int32_t *gen = gr.tokens;
    struct text_out tout = v.out;
    double t0 = 0, t1 = gr.prompt_seconds, t2 = t1 + gr.gen_seconds;
    if (!code) {
        double pp = n / (t1 - t0 > 0 ? t1 - t0 : 1e-9),
               tg = (double)ngen / (t2 - t1 > 0 ? t2 - t1 : 1e-9);
        if (g_opts.json) {
            json_t *pa = json_array(), *ga = json_array();
            for (int i = 0; i < n; i++) json_array_append_new(pa, json_integer(ids[i]));
            for (uint64_t i = 0; i < ngen; i++) json_array_append_new(ga, json_integer(gen[i]));
            out_json(json_pack("{s:o, s:o, s:o, s:f, s:f}", "prompt_tokens", pa, "tokens", ga,
                               "text", json_bytes(text, text_len), "prompt_tokens_per_s", pp,
                               "gen_tokens_per_s", tg));
        } else {
            if (!stream) {
                if (tok)
                    text_out_write(&tout, text, text_len);
                else
                    for (uint64_t i = 0; i < ngen; i++) printf("%s%d", i ? " " : "", gen[i]);
            }
            text_out_flush(&tout);
            putchar('\n');
            if (gr.why == FERRY_GEN_CONTEXT_FULL)
                warnf("stopped at the end of the context (%u positions; --ctx sets it, up to the "
                      "model's %u)",
                      in->n_ctx_alloc, in->n_ctx);
            notef("prompt: %d tokens, %.1f tokens/s; generation: %llu tokens, %.1f tokens/s (%s, "
                  "%u threads)",
                  n, pp, (unsigned long long)ngen, tg, in->weight_type,
                  threads ? (unsigned)threads : ferry_cpu_count());
        }
    }
    free(text);
    free(gen);
    free(ids);
    ferry_tokenizer_free(tok);
    ferry_model_free(m);
    return code;
}
