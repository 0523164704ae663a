/* ferry convert: model-aware conversion of Llama checkpoints to GGUF, and --raw container
 * conversion of any tensor dictionary. */
#include "commands.h"
#include "output.h"
#include "progress.h"
#include "ferry/convert.h"
#include "ferry/imatrix.h"
#include "ferry/quant.h"

#include <ctype.h>
#include <getopt.h>
#include <regex.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry convert SRC -o DST [--to gguf|safetensors|pytorch|meta] [--type T]\n"
    "                     [--name NAME] [--vocab-from PATH | --no-vocab | --vocab-only]\n"
    "                     [--threads N] [--force] [--dry-run [--json]]\n"
    "       ferry convert SRC -o DST --raw [--to gguf|safetensors|pytorch] [--force]\n\n"
    "SRC is a Hugging Face model directory (config.json, safetensors or pytorch_model.bin,\n"
    "tokenizer.model or tokenizer.json), a Meta directory (params.json, consolidated.NN.pth,\n"
    "tokenizer.model) or a llama GGUF file, also inside an archive (.tar, .tar.gz/.zst/.xz/.bz2,\n"
    ".zip: the folder it holds, or ARCHIVE//FOLDER). A plain .tar is read in place; any other\n"
    "archive is first unpacked into a staging folder beside DST (the model's uncompressed size,\n"
    "since a compressed stream cannot be read at random) and removed afterwards.\n"
    "DST is a GGUF file as llama.cpp's converter\n"
    "writes it, or with --to safetensors|pytorch a Hugging Face directory, with --to meta a\n"
    "Meta directory (Q/K rows in that layout, block types dequantized). Source weights may be\n"
    "in any type ferry reads: F32/F16/BF16, every GGUF block type (IQ ones included), and FP8\n"
    "(F8_E4M3 with a per-row weight_scale, applied as the rows are read).\n\n"
    "  --type T          GGUF: f32 f16 (default) bf16 q8_0 q4_0 q4_1 q5_0 q5_1 keep (norms\n"
    "                    and 1-D tensors stay F32), or the k-quant, IQ and ternary file\n"
    "                    types of llama-quantize with its per-tensor choices: q2_k q2_k_s\n"
    "                    q3_k_s q3_k(=q3_k_m) q3_k_l q4_k(=q4_k_s) q4_k_m q5_k(=q5_k_s) q5_k_m\n"
    "                    q6_k iq1_s iq1_m iq2_xxs iq2_xs iq2_s iq2_m iq3_xxs iq3_xs iq3_s iq3_m\n"
    "                    iq4_nl iq4_xs tq1_0 tq2_0 (iq1_*, iq2_*, iq3_xxs, iq3_xs and q2_k_s\n"
    "                    only with --imatrix, as llama-quantize);\n"
    "                    q4_0 q4_1 q5_0 q5_1 also follow them (output.weight Q6_K), as\n"
    "                    llama-quantize does;\n"
    "                    directories: f32 f16 bf16 keep (default)\n"
    "  --pure            every weight in the --type given, without those per-tensor choices\n"
    "                    (llama-quantize --pure; rows that fit no block still fall back)\n"
    "  --output-tensor-type T, --token-embedding-type T, --leave-output-tensor,\n"
    "  --tensor-type PATTERN=T  llama-quantize's overrides, for block --types: output.weight\n"
    "                    or token_embd.weight in T, output.weight left unquantized, and any\n"
    "                    tensor whose name contains the (POSIX extended) regular expression\n"
    "                    PATTERN in T, the first matching --tensor-type winning\n"
    "  --allow-requantize  quantize a GGUF's already quantized tensors again (refused without\n"
    "                    it, as by llama-quantize); tensors already in their type are copied\n"
    "  --imatrix F       importance matrix (llama-imatrix's GGUF or legacy .dat) weighting the\n"
    "                    quantizers, byte-equal to llama-quantize --imatrix; recorded as its\n"
    "                    quantize.imatrix.* keys\n"
    "  --include-weights NAME, --exclude-weights NAME  use the imatrix only for tensors whose\n"
    "                    names contain NAME / not for those (repeatable, as llama-quantize)\n"
    "  --name NAME       general.name (default: the source folder's name)\n"
    "  --vocab-from PATH GGUF: the vocabulary of another model, GGUF or tokenizer file\n"
    "                    (tokenizer.model, tokenizer.json, tokenizer.bin), for a source without\n"
    "                    one (a llama2.c .bin, weights without tokenizer files): a GGUF needs\n"
    "                    one for llama.cpp to load it, so its absence is refused (exit 65)\n"
    "  --no-vocab        GGUF: weights only, on purpose\n"
    "  --vocab-only      GGUF: the vocabulary and hyperparameters without tensors, as\n"
    "                    llama.cpp's converter writes with --vocab-only\n"
    "  --split-max-size N  GGUF shards NAME-0000k-of-0000n.gguf of at most N bytes (50G, 500M)\n"
    "  --resume          keep output shards already written with the right layout\n"
    "  --shard-size N    Hugging Face output: safetensors shards of at most N bytes + index\n"
    "  -o, --output DST  output file (format from --to or the extension:\n"
    "                    .gguf, .safetensors, .pt/.pth/.bin)\n"
    "  --to FORMAT       gguf, safetensors, pytorch or meta: model conversion writes a GGUF\n"
    "                    file or a directory (safetensors, pytorch, meta), so -o names a file\n"
    "                    for gguf and a directory otherwise; --raw writes one file of the\n"
    "                    container the extension or --to names\n"
    "  --raw             any tensor dictionary, names, dtypes and shapes unchanged\n"
    "  --force           overwrite an existing output\n"
    "  --dry-run         GGUF: print the output tensor table (name, type, shape, bytes) and\n"
    "                    the total from the sources' headers alone; nothing is read, hashed\n"
    "                    or written (--json: one JSON document)\n"
    "  -q, -v            quieter, more verbose\n\n"
    "  --threads N       conversion threads (default: all cores)\n";

static volatile sig_atomic_t g_convert_cancel;

/* A type ferry writes, named as ggml names it in any case (q6_K, Q8_0, f16) */
static int block_type(const char *opt, const char *name, enum ferry_dtype *out)
{
    char up[32];
    size_t i = 0;
    for (; name[i] && i < sizeof(up) - 1; i++) up[i] = (char)toupper((unsigned char)name[i]);
    up[i] = 0;
    *out = ferry_dtype_from_name(up);
    if (*out == FERRY_DT_INVALID || !ferry_can_write(*out)) {
        errorf("%s: '%s' is not a type ferry writes (e.g. q8_0, q6_k, q4_k, f16)", opt, name);
        return -1;
    }
    return 0;
}

/* --dry-run: the planned tensors, printed as they come (text) or gathered (--json) */
struct plan_view {
    uint64_t n, bytes;
    json_t *tensors;
};

static void on_planned(void *ctx, const char *name, enum ferry_dtype dt, uint32_t ndim,
                       const uint64_t *shape, uint64_t nbytes)
{
    struct plan_view *v = ctx;
    v->n++, v->bytes += nbytes;
    char dims[128] = "";
    size_t l = 0;
    for (uint32_t i = 0; i < ndim && l < sizeof(dims); i++)
        l += (size_t)snprintf(dims + l, sizeof(dims) - l, "%s%llu", i ? " x " : "",
                              (unsigned long long)shape[i]);
    if (!g_opts.json) {
        printf("%-40s %-6s %-24s %14llu\n", name, ferry_dtype_name(dt), dims,
               (unsigned long long)nbytes);
        return;
    }
    json_t *sh = json_array();
    for (uint32_t i = 0; i < ndim; i++)
        json_array_append_new(sh, json_integer((json_int_t)shape[i]));
    json_array_append_new(v->tensors, json_pack("{s:s, s:s, s:o, s:I}", "name", name, "type",
                                                ferry_dtype_name(dt), "shape", sh, "bytes",
                                                (json_int_t)nbytes));
}

static void on_signal(int sig)
{
    (void)sig;
    g_convert_cancel = 1;
}

static int convert_model(const char *src, const char *out, struct ferry_convert_opts *co);
static int convert_raw(const char *src, const char *out, enum ferry_container fmt, int force);

int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"to", required_argument, NULL, 'T'},
        {"raw", no_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"type", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 'j'},
        {"split-max-size", required_argument, NULL, 'S'},
        {"resume", no_argument, NULL, 'R'},
        {"shard-size", required_argument, NULL, 'Z'},
        {"vocab-from", required_argument, NULL, 'V'},
        {"no-vocab", no_argument, NULL, 'N'},
        {"vocab-only", no_argument, NULL, 'O'},
        {"dry-run", no_argument, NULL, 'D'},
        {"pure", no_argument, NULL, 'P'},
        {"output-tensor-type", required_argument, NULL, 'y'},
        {"token-embedding-type", required_argument, NULL, 'e'},
        {"leave-output-tensor", no_argument, NULL, 'L'},
        {"allow-requantize", no_argument, NULL, 'A'},
        {"tensor-type", required_argument, NULL, 'x'},
        {"imatrix", required_argument, NULL, 'm'},
        {"include-weights", required_argument, NULL, 'w'},
        {"exclude-weights", required_argument, NULL, 'X'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *to = NULL, *type = NULL, *name = NULL;
    uint64_t threads = 0, split = 0, shard = 0;
    int resume = 0;
    enum ferry_vocab_mode vocab = FERRY_VOCAB_REQUIRED;
    const char *vocab_from = NULL;
    int raw = 0, force = 0, dry = 0, pure = 0, leave_output = 0, requant = 0, c;
    enum ferry_dtype output_type = FERRY_DT_INVALID, embd_type = FERRY_DT_INVALID;
    struct ferry_tensor_type tensor_types[64];
    size_t ntensor_types = 0;
    const char *imatrix_path = NULL, *include[64], *exclude[64];
    size_t ninclude = 0, nexclude = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'T': to = optarg; break;
        case 'r': raw = 1; break;
        case 'f': force = 1; break;
        case 't': type = optarg; break;
        case 'n': name = optarg; break;
        case 'V': vocab_from = optarg; break;
        case 'N': vocab = FERRY_VOCAB_NONE; break;
        case 'O': vocab = FERRY_VOCAB_ONLY; break;
        case 'D': dry = 1; break;
        case 'P': pure = 1; break;
        case 'L': leave_output = 1; break;
        case 'A': requant = 1; break;
        case 'y':
        case 'e':
            if (block_type(c == 'y' ? "--output-tensor-type" : "--token-embedding-type", optarg,
                           c == 'y' ? &output_type : &embd_type))
                return EXIT_USAGE;
            break;
        case 'x': {
            char *eq = strchr(optarg, '=');
            regex_t re;
            if (!eq || eq == optarg || ntensor_types == 64) {
                errorf("--tensor-type needs PATTERN=TYPE (at most 64 of them), e.g. attn_v=q8_0");
                return EXIT_USAGE;
            }
            *eq = 0;
            for (char *s = optarg; *s; s++)
                *s = (char)tolower((unsigned char)*s); /* as llama-quantize */
            if (regcomp(&re, optarg, REG_EXTENDED | REG_NOSUB)) {
                errorf("--tensor-type: '%s' is not a regular expression", optarg);
                return EXIT_USAGE;
            }
            regfree(&re);
            tensor_types[ntensor_types].pattern = optarg;
            if (block_type("--tensor-type", eq + 1, &tensor_types[ntensor_types].type))
                return EXIT_USAGE;
            ntensor_types++;
            break;
        }
        case 'm': imatrix_path = optarg; break;
        case 'w':
        case 'X':
            if ((c == 'w' ? ninclude : nexclude) == 64) {
                errorf("at most 64 --include-weights and 64 --exclude-weights");
                return EXIT_USAGE;
            }
            if (c == 'w')
                include[ninclude++] = optarg;
            else
                exclude[nexclude++] = optarg;
            break;
        case 'J': g_opts.json = 1; break;
        case 'j':
            if (parse_uint_opt("--threads", optarg, 64, &threads)) return EXIT_USAGE;
            break;
        case 'R': resume = 1; break;
        case 'Z':
        case 'S': {
            char *end;
            double v = strtod(optarg, &end);
            double mult = *end == 'K' || *end == 'k'   ? 1e3
                          : *end == 'M' || *end == 'm' ? 1e6
                          : *end == 'G' || *end == 'g' ? 1e9
                          : *end == 'T' || *end == 't' ? 1e12
                                                       : 1;
            if (mult > 1) end++;
            if (*end || v <= 0) {
                errorf("--split-max-size needs a size such as 50G, 500M or 1000000");
                return EXIT_USAGE;
            }
            *(c == 'S' ? &split : &shard) = (uint64_t)(v * mult);
            break;
        }
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind == argc - 1 && !out) {
        errorf("-o DST is missing: where should the conversion go?");
        return EXIT_USAGE;
    }
    if (optind != argc - 1 || !out) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    enum ferry_container fmt = to ? ferry_container_from_name(to) : ferry_container_from_path(out);
    if (fmt == FERRY_FMT_NONE) {
        errorf("%s: cannot tell the output format; use --to gguf|safetensors|pytorch|meta",
               to ? to : out);
        return EXIT_USAGE;
    }
    if (!raw && fmt != FERRY_FMT_GGUF) {
        /* one rule: a model conversion to these formats writes a directory, --raw one file */
        static const char *file_ext[] = {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".json"};
        size_t ol = strlen(out);
        for (size_t i = 0; i < sizeof(file_ext) / sizeof(file_ext[0]); i++) {
            size_t el = strlen(file_ext[i]);
            if (ol > el && !strcmp(out + ol - el, file_ext[i])) {
                errorf("-o %s names a file, but converting a model to %s writes a directory "
                       "(config.json, weights, tokenizer): name a directory, or use --raw to "
                       "write the tensors as one file",
                       out, to ? to : "that format");
                return EXIT_USAGE;
            }
        }
    }
    if (vocab_from && vocab == FERRY_VOCAB_NONE) {
        errorf("--vocab-from and --no-vocab contradict each other");
        return EXIT_USAGE;
    }
    if ((vocab_from || vocab != FERRY_VOCAB_REQUIRED) && (raw || fmt != FERRY_FMT_GGUF)) {
        errorf("--vocab-from, --no-vocab and --vocab-only are for model conversion to GGUF");
        return EXIT_USAGE;
    }
    if (raw && fmt == FERRY_FMT_META) {
        errorf("--to meta is a model layout; it does not go with --raw");
        return EXIT_USAGE;
    }
    if (dry && (raw || fmt != FERRY_FMT_GGUF)) {
        errorf("--dry-run plans a model conversion to GGUF");
        return EXIT_USAGE;
    }
    if ((ninclude || nexclude) && !imatrix_path) {
        errorf("--include-weights and --exclude-weights choose entries of an --imatrix");
        return EXIT_USAGE;
    }
    if (imatrix_path && (raw || fmt != FERRY_FMT_GGUF)) {
        errorf("--imatrix weights the quantizers of a model conversion to GGUF");
        return EXIT_USAGE;
    }
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_imatrix *im = NULL;
    if (imatrix_path) {
        if (ferry_imatrix_load(imatrix_path, &im, &err)) return report_error(&err);
        ferry_imatrix_filter(im, include, ninclude, exclude, nexclude);
        notef("importance matrix: %zu entries%s%s", im->n, im->dataset ? " computed on " : "",
              im->dataset ? im->dataset : "");
    }
    int code = raw ? convert_raw(argv[optind], out, fmt, force)
                   : convert_model(argv[optind], out,
                                   &(struct ferry_convert_opts){.to = fmt,
                                                                .type = type,
                                                                .name = name,
                                                                .force = force,
                                                                .pure = pure,
                                                                .output_type = output_type,
                                                                .token_embd_type = embd_type,
                                                                .leave_output = leave_output,
                                                                .allow_requantize = requant,
                                                                .tensor_types = tensor_types,
                                                                .ntensor_types = ntensor_types,
                                                                .imatrix = im,
                                                                .imatrix_path = imatrix_path,
                                                                .vocab = vocab,
                                                                .vocab_from = vocab_from,
                                                                .dry_run = dry,
                                                                .split_max = split,
                                                                .resume = resume,
                                                                .shard_size = shard,
                                                                .threads = (unsigned)threads});
    ferry_imatrix_free(im);
    return code;
}

/* a model conversion, or with co->dry_run its plan */
static int convert_model(const char *src, const char *out, struct ferry_convert_opts *co)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    if (co->dry_run) {
        struct plan_view pv = {.tensors = json_array()};
        co->planned = on_planned, co->planned_ctx = &pv;
        if (!g_opts.json) printf("%-40s %-6s %-24s %14s\n", "tensor", "type", "shape", "bytes");
        int rc = ferry_convert_model(src, out, co, &err);
        if (rc) {
            json_decref(pv.tensors);
            return report_error(&err);
        }
        if (g_opts.json)
            out_json(json_pack("{s:s, s:o, s:I, s:I}", "output", out, "tensors", pv.tensors,
                               "count", (json_int_t)pv.n, "tensor_bytes", (json_int_t)pv.bytes));
        else {
            json_decref(pv.tensors);
            printf("%llu tensors, %llu bytes of tensor data (%.2f GiB)\n", (unsigned long long)pv.n,
                   (unsigned long long)pv.bytes, (double)pv.bytes / 1073741824.0);
        }
        return EXIT_OK;
    }
    struct progress prog;
    progress_start(&prog, "converting", 0);
    /* Ctrl-C or SIGTERM stop the conversion between chunks, so the library removes its
     * temporary file or staging directory before the exit */
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    co->cancel = &g_convert_cancel;
    co->progress = progress_cb, co->progress_total = progress_total_cb;
    co->progress_ctx = &prog;
    int rc = ferry_convert_model(src, out, co, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    progress_end(&prog);
    if (rc) return report_error(&err);
    notef("wrote %s", out);
    return EXIT_OK;
}

/* --raw: any tensor dictionary, unchanged */
static int convert_raw(const char *src, const char *out, enum ferry_container fmt, int force)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_ckpt ck;
    ferry_ckpt_init(&ck);
    int rc = ferry_ckpt_open(&ck, src, &err);
    if (!rc) rc = ferry_convert_raw(&ck, out, fmt, force, &err);
    int code = rc ? report_error(&err) : EXIT_OK;
    if (!rc) notef("wrote %s (%llu tensors)", out, (unsigned long long)ck.ntensors);
    ferry_ckpt_free(&ck);
    return code;
}
