/* ferry demo: the pipeline offline on a model ferry makes itself: generate a Llama checkpoint,
 * convert it to GGUF (f16, q8_0), PyTorch and Meta layouts, sign and verify it, record the
 * license acceptance, pack it into one archive and verify that, run the forward pass on every copy
 * and check the logits agree, then serve the model on loopback and fetch it back over HTTP and over
 * BitTorrent. */
#define _GNU_SOURCE
#include "commands.h"
#include "demo_fetch.h"
#include "demo_torrent.h"
#include "model_args.h"
#include "output.h"
#include "ferry/archive.h"
#include "ferry/ckpt.h"
#include "ferry/convert.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/logit_check.h"
#include "ferry/manifest.h"
#include "verify_common.h"
#include "ferry/verify.h"
#include "ferry/tokenizer.h"
#include "ferry/sign.h"
#include "ferry/sampler.h"
#include "ferry/generate.h"

#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry demo [--dir D] [--threads N] [--json]\n\n"
    "Runs ferry's pipeline offline on a small model it generates, in D\n"
    "(default: a new temporary folder, kept for inspection). --json prints\n"
    "{\"stages\": [{\"name\", \"ok\", \"seconds\"}], \"ok\"} on stdout when it ends.\n";

/* The stages as --json reports them: name, ok, seconds. */
static struct {
    const char *name;
    int ok;
    double start, seconds;
} stages[16];
static int demo_json;
static int step_no, stage_failed; /* a check inside the current stage failed */

static void close_stage(int ok)
{
    if (!step_no) return;
    stages[step_no - 1].ok = ok && !stage_failed;
    stage_failed = 0;
    stages[step_no - 1].seconds = now_seconds() - stages[step_no - 1].start;
}

static void step(const char *name, const char *what)
{
    close_stage(1);
    if (step_no < 16) stages[step_no] = (typeof(stages[0])){name, 0, now_seconds(), 0};
    fprintf(stderr, "\nferry demo [%d] %s\n", ++step_no, what);
}

/* Closes the last stage with the outcome code and, with --json, prints the stages. */
static int finish(int code)
{
    close_stage(code == EXIT_OK);
    if (demo_json) { /* the steps inside render as text, on stderr */
        json_t *a = json_array();
        for (int i = 0; i < step_no && i < 16; i++)
            json_array_append_new(a, json_pack("{s:s, s:b, s:f}", "name", stages[i].name, "ok",
                                               stages[i].ok, "seconds", stages[i].seconds));
        out_json(json_pack("{s:o, s:b}", "stages", a, "ok", code == EXIT_OK));
    }
    return code;
}

static int demo_convert(const char *src, const char *dst, enum ferry_container to, const char *type,
                        unsigned threads)
{
    struct ferry_convert_opts co = {.to = to, .type = type, .force = 1, .threads = threads};
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_convert_model(src, dst, &co, &err)) return report_error(&err);
    fprintf(stderr, "  wrote %s (%s)\n", dst, type ? type : "as the source");
    return 0;
}

/* The signature, then every file against the manifest, as `ferry verify` checks them; with
 * license, a counting acceptance record too. 0 when all holds. */
static int demo_verify(const char *model, const char *pub, int license)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_manifest m = {0};
    int rc = verify_signature(model, NULL, pub, NULL, 0, &m, NULL, &err);
    if (rc <= 0) {
        if (rc == 0)
            errorf("%s: not signed", model);
        else
            report_error(&err);
        return EXIT_FAIL;
    }
    struct ferry_walk_opts wo = {0};
    struct ferry_check_report r = {0};
    int bad = ferry_manifest_check(model, &m, &wo, &r, &err) != 0;
    if (bad) report_error(&err);
    bad |= r.nmissing || r.nextra || r.nmismatched;
    fprintf(stderr, "  %s: %zu files OK, %zu missing, %zu extra, %zu changed\n", model, r.nok,
            r.nmissing, r.nextra, r.nmismatched);
    ferry_check_report_free(&r);
    if (!bad && license) bad = verify_license(model, &m, NULL, NULL) != 0;
    ferry_manifest_free(&m);
    return bad ? EXIT_FAIL : 0;
}

struct demo_text {
    const struct ferry_tokenizer *tok;
    int32_t prev;
    struct text_out out;
};

static void demo_token(void *ctx, int32_t id)
{
    struct demo_text *d = ctx;
    char piece[256];
    size_t pl = ferry_token_text(d->tok, d->prev, id, piece, sizeof(piece));
    text_out_write(&d->out, piece, pl); /* escaped on a terminal: the weights are random */
    d->prev = id;
}

/* Greedy generation from prompt, the text shown as it comes. */
static int demo_generate(const char *path, const char *prompt, uint32_t ntok, unsigned threads)
{
    struct ferry_model *m;
    int code = load_model(path, 0, threads, &m);
    if (code) return code;
    int32_t *ids = NULL;
    int n = 0;
    struct ferry_tokenizer *tok = NULL;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!(code = tokenize_prompt(m, prompt, 0, 1, &ids, &n)) &&
        ferry_tokenizer_new(ferry_model_vocab(m), &tok, &err))
        code = report_error(&err);
    if (!code) {
        struct ferry_sampler smp;
        ferry_sampler_init(&smp, 0.0f, 0, 1.0f, 0);
        int32_t stop = ferry_tokenizer_eos(tok);
        struct demo_text d = {tok, ids[n - 1], {0}};
        text_out_init(&d.out, stderr);
        fprintf(stderr, "  %s", prompt);
        struct ferry_generate_opts go = {ntok, &smp, &stop, 1, demo_token, &d};
        struct ferry_generate_result gr;
        if (ferry_generate(m, ids, (uint32_t)n, &go, &gr, &err)) code = report_error(&err);
        text_out_flush(&d.out);
        if (!code)
            fprintf(stderr, "\n  %u tokens at %.0f tokens/s\n", gr.n,
                    gr.gen_seconds > 0 ? gr.n / gr.gen_seconds : 0.0);
        free(gr.tokens);
    }
    ferry_tokenizer_free(tok);
    free(ids);
    ferry_model_free(m);
    return code;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {{"dir", required_argument, NULL, 'd'},
                                             {"threads", required_argument, NULL, 't'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    uint64_t threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'j': demo_json = 1; break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 256, &threads)) return EXIT_USAGE;
            break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    char tmpl[] = "/tmp/ferry-demo-XXXXXX", p[8][4200];
    if (!dir && !(dir = mkdtemp(tmpl))) {
        errorf("cannot create a temporary folder");
        return EXIT_CANTCREAT;
    }
    double t0 = now_seconds();
    /* keys, acceptance records and keys stay inside the demo folder */
    snprintf(p[0], sizeof(p[0]), "%s/xdg-config", dir);
    snprintf(p[1], sizeof(p[1]), "%s/xdg-data", dir);
    setenv("XDG_CONFIG_HOME", p[0], 1);
    setenv("XDG_DATA_HOME", p[1], 1);
    char model[4200], gf16[4200], gq8[4200], pt[4200], meta[4200], key[4200], keyf[4300], pub[4300];
    if (ferry_mkdirs(dir, 0755) != 0) {
        errorf("%s: cannot create: %s", dir, strerror(errno));
        return EXIT_CANTCREAT;
    }
    snprintf(model, sizeof(model), "%s/model", dir);
    snprintf(gf16, sizeof(gf16), "%s/model-f16.gguf", dir);
    snprintf(gq8, sizeof(gq8), "%s/model-q8_0.gguf", dir);
    snprintf(pt, sizeof(pt), "%s/model-pytorch", dir);
    snprintf(meta, sizeof(meta), "%s/model-meta", dir);
    snprintf(key, sizeof(key), "%s/publisher", dir);
    snprintf(keyf, sizeof(keyf), "%s.key", key);
    snprintf(pub, sizeof(pub), "%s.pub", key);
    struct ferry_error err;
    ferry_error_clear(&err);

    step("generate",
         "generate a small Llama checkpoint (Hugging Face layout, safetensors, tokenizer.model)");
    if (ferry_synth_llama(model, 20261126, 1, &err)) return finish(report_error(&err));
    struct ferry_ckpt ck;
    ferry_ckpt_init(&ck);
    if (ferry_ckpt_open(&ck, model, &err)) return finish(report_error(&err));
    uint64_t params = 0;
    for (uint64_t i = 0; i < ck.ntensors; i++) params += ck.tensors[i].nelem;
    fprintf(stderr, "  %s: %llu tensors, %llu parameters (ferry inspect %s shows them)\n", model,
            (unsigned long long)ck.ntensors, (unsigned long long)params, model);
    ferry_ckpt_free(&ck);

    step("convert", "convert: GGUF f16 and q8_0, a PyTorch directory, a Meta directory");
    if (demo_convert(model, gf16, FERRY_FMT_GGUF, "f16", (unsigned)threads) ||
        demo_convert(model, gq8, FERRY_FMT_GGUF, "q8_0", (unsigned)threads) ||
        demo_convert(model, pt, FERRY_FMT_PYTORCH, NULL, (unsigned)threads) ||
        demo_convert(model, meta, FERRY_FMT_META, NULL, (unsigned)threads))
        return finish(EXIT_FAIL);

    step("sign", "sign the model (minisign key, license acceptance required) and verify it");
    char kid[17];
    struct ferry_sign_opts so = {
        .key = keyf,
        .force = 1,
        .walk = {.license_id = "demo-1.0", .require_acceptance = 1, .btv2 = 1}};
    struct ferry_sign_result sr;
    if (ferry_minisign_keygen(key, NULL, 1, kid, &err) || ferry_sign_model(model, &so, &sr, &err))
        return finish(report_error(&err));
    fprintf(stderr, "  key %s signed %zu files -> %s\n", kid, sr.files, sr.signature);
    if (demo_verify(model, pub, 0)) return finish(EXIT_FAIL);

    step("license", "record the license acceptance and verify with --require-license");
    struct ferry_manifest man = {0};
    if (verify_signature(model, NULL, pub, NULL, 0, &man, NULL, &err) != 1)
        return finish(report_error(&err));
    char lic[65] = "";
    for (size_t i = 0; i < man.nres; i++)
        if (!strcmp(man.res[i].role, "license")) ferry_hex(man.res[i].sha256, 32, lic);
    struct ferry_acceptor who = {.name = "Demo User"};
    struct ferry_license_recorded rec;
    int arc = ferry_license_accept(model, &man, &who, "flag:--accept-license", 0, NULL, &rec, &err);
    ferry_manifest_free(&man);
    if (arc) return finish(report_error(&err));
    fprintf(stderr, "  recorded the acceptance of LICENSE (sha256 %.16s...) by Demo User -> %s\n",
            lic, rec.path);
    if (demo_verify(model, pub, 1)) return finish(EXIT_FAIL);

    step("pack",
         "pack the signed model into one reproducible archive and verify it without unpacking");
    char packed[4300];
    snprintf(packed, sizeof(packed), "%s/model.tar.zst", dir);
    struct ferry_pack_opts po = {.filter = "zstd", .force = 1};
    struct ferry_signature_opts pso = {.pubkey = pub};
    struct ferry_signature_report psr;
    struct ferry_check_report pr;
    struct ferry_manifest pm;
    if (ferry_pack_model(model, packed, &po, &err)) return finish(report_error(&err));
    int pv = ferry_verify_archive(packed, &pso, &pm, &psr, &pr, &err);
    if (pv != 1) return finish(pv < 0 ? report_error(&err) : EXIT_FAIL);
    fprintf(stderr, "  %s: signature good, %zu files OK, %zu missing, %zu extra, %zu changed\n",
            packed, pr.nok, pr.nmissing, pr.nextra, pr.nmismatched);
    int pbad = pr.nmissing || pr.nextra || pr.nmismatched;
    ferry_check_report_free(&pr);
    ferry_manifest_free(&pm);
    if (pbad) return finish(EXIT_FAIL);

    step("check", "run the forward pass on every copy and compare logits with the original");
    struct ferry_model *ref;
    int code = load_model(model, 0, (unsigned)threads, &ref);
    if (code) return finish(code);
    int32_t *ids = NULL;
    int n = 0;
    /* about 90 positions: over fewer, one or two top-1 flips of the random model's nearly
     * tied logits move the agreement by several percent (37 positions gave 94.6% for Q8_0) */
    if ((code =
             tokenize_prompt(ref,
                             "Once upon a time there was a little dog who saw the river. The dog "
                             "went to the park to play with a friend, and the sun was big and "
                             "happy over the water",
                             0, 1, &ids, &n))) {
        ferry_model_free(ref);
        return finish(code);
    }
    uint32_t nv = ferry_model_get_info(ref)->n_vocab;
    float *lr = malloc((size_t)n * nv * sizeof(float)),
          *lc = malloc((size_t)n * nv * sizeof(float));
    if (!lr || !lc || ferry_model_eval(ref, ids, (uint32_t)n, 0, lr, 1, &err))
        code = report_error(&err);
    ferry_model_free(ref);
    const char *copies[4] = {gf16, gq8, pt, meta};
    int failed = 0;
    for (int i = 0; !code && i < 4; i++) {
        struct ferry_model *m;
        if ((code = load_model(copies[i], 0, (unsigned)threads, &m))) break;
        const char *wt = ferry_model_get_info(m)->weight_type;
        if (ferry_model_eval(m, ids, (uint32_t)n, 0, lc, 1, &err))
            code = report_error(&err);
        else {
            struct ferry_logit_stats s;
            double kl, top;
            ferry_logit_stats_compute(lr, lc, (uint32_t)n, nv, ids, &s);
            ferry_check_defaults(wt, &kl, &top);
            int ok = s.mean_kl <= kl && s.top1 >= top;
            failed |= !ok, stage_failed |= !ok;
            fprintf(stderr, "  %-40s %-5s KL %.2e  top-1 %5.1f%%  max |d| %.2e  %s\n",
                    copies[i] + strlen(dir) + 1, wt, s.mean_kl, 100 * s.top1, s.max_abs,
                    ok ? "OK" : "OUT OF TOLERANCE");
        }
        ferry_model_free(m);
    }
    free(lr);
    free(lc);
    free(ids);
    if (code) return finish(code);

    step("generate_text",
         "generate text with the q8_0 GGUF (random weights: the words are nonsense)");
    if (demo_generate(gq8, "Once upon a time", 24, (unsigned)threads)) return finish(EXIT_FAIL);

    step("http",
         "serve the signed model with nginx on loopback and fetch it back (signature, license, "
         "hashes)");
    char fetched[4300];
    int fr = demo_fetch(dir, "model", pub, lic, fetched, sizeof(fetched));
    if (fr == 0) fr = demo_verify(fetched, pub, 1) ? 1 : 0;
    if (fr < 0)
        fprintf(stderr, "  skipped: nginx is not installed (scripts/install-deps installs it)\n");
    failed |= fr > 0, stage_failed |= fr > 0;

    step("torrent", "make a torrent of the signed model, seed it with ferry seed and fetch it over "
                    "BitTorrent (roots checked against the signed manifest first)");
    char fetched_bt[4300];
    int br = demo_torrent(dir, model, pub, lic, fetched_bt, sizeof(fetched_bt));
    if (br == 0) br = demo_verify(fetched_bt, pub, 1) ? 1 : 0;
    failed |= br != 0, stage_failed |= br != 0;
    fprintf(stderr, "\nferry demo: %s in %.1f s; files are in %s\n",
            failed ? "FAILED" : "all steps passed", now_seconds() - t0, dir);
    return finish(failed ? EXIT_FAIL : EXIT_OK);
}
