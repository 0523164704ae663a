/* ferry demo: the pipeline offline on a model ferry makes itself: generate a Llama checkpoint,
 * convert it to GGUF (f16, q8_0), PyTorch and Meta layouts, sign and verify it, record the
 * license acceptance, run the forward pass on every copy and check the logits agree, then
 * serve the model on loopback and fetch it back. */
#define _GNU_SOURCE
#include "commands.h"
#include "demo_fetch.h"
#include "model_args.h"
#include "output.h"
#include "ferry/ckpt.h"
#include "ferry/convert.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/logit_check.h"
#include "ferry/manifest.h"

#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry demo [--dir D] [--threads N]\n\n"
    "Runs ferry's pipeline offline on a small model it generates, in D\n"
    "(default: a new temporary folder, kept for inspection).\n";

static int step_no;

static void step(const char *what)
{
    fprintf(stderr, "\nferry demo [%d] %s\n", ++step_no, what);
}

/* Runs another subcommand as the user would. */
static int sub(int (*fn)(int, char **), const char *const *args)
{
    char *argv[32];
    int argc = 0;
    for (; args[argc] && argc < 31; argc++) argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    int saved = g_opts.verbosity, json = g_opts.json;
    int rc = fn(argc, argv);
    fflush(stdout);
    g_opts.verbosity = saved, g_opts.json = json;
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {{"dir", required_argument, NULL, 'd'},
                                             {"threads", required_argument, NULL, 't'},
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

    step("generate a small Llama checkpoint (Hugging Face layout, safetensors, tokenizer.model)");
    if (ferry_synth_llama(model, 20261126, 1, &err)) return report_error(&err);
    struct ferry_ckpt ck;
    ferry_ckpt_init(&ck);
    if (ferry_ckpt_open(&ck, model, &err)) return report_error(&err);
    uint64_t params = 0;
    for (uint64_t i = 0; i < ck.ntensors; i++) params += ck.tensors[i].nelem;
    fprintf(stderr, "  %s: %llu tensors, %llu parameters (ferry inspect %s shows them)\n", model,
            (unsigned long long)ck.ntensors, (unsigned long long)params, model);
    ferry_ckpt_free(&ck);

    step("convert: GGUF f16 and q8_0, a PyTorch directory, a Meta directory");
    const char *conv[4][8] = {{"convert", model, "-o", gf16, "--type", "f16", "--force", NULL},
                              {"convert", model, "-o", gq8, "--type", "q8_0", "--force", NULL},
                              {"convert", model, "-o", pt, "--to", "pytorch", "--force", NULL},
                              {"convert", model, "-o", meta, "--to", "meta", "--force", NULL}};
    for (int i = 0; i < 4; i++)
        if (sub(cmd_convert, conv[i]) != 0) return EXIT_FAIL;

    step("sign the model (minisign key, license acceptance required) and verify it");
    if (sub(cmd_keygen,
            (const char *const[]){"keygen", "-o", key, "--no-password", "--force", "-q", NULL}) ||
        sub(cmd_sign, (const char *const[]){"sign", model, "--key", keyf, "--require-acceptance",
                                            "--license-id", "demo-1.0", "--force", NULL}) ||
        sub(cmd_verify, (const char *const[]){"verify", model, "--pubkey", pub, NULL}))
        return EXIT_FAIL;

    step("record the license acceptance and verify with --require-license");
    struct ferry_walk_opts wo = {0};
    struct ferry_manifest man;
    if (ferry_manifest_build(model, &wo, &man, &err)) return report_error(&err);
    char lic[65] = "";
    for (size_t i = 0; i < man.nres; i++)
        if (!strcmp(man.res[i].role, "license")) ferry_hex(man.res[i].sha256, 32, lic);
    ferry_manifest_free(&man);
    char flag[128];
    snprintf(flag, sizeof(flag), "--accept-license=%s", lic);
    if (sub(cmd_license, (const char *const[]){"license", "accept", model, "--pubkey", pub, flag,
                                               "--name", "Demo User", NULL}) ||
        sub(cmd_verify,
            (const char *const[]){"verify", model, "--pubkey", pub, "--require-license", NULL}))
        return EXIT_FAIL;

    step("run the forward pass on every copy and compare logits with the original");
    struct ferry_model *ref;
    int code = load_model(model, 0, (unsigned)threads, &ref);
    if (code) return code;
    int32_t *ids = NULL;
    int n = 0;
    if ((code = tokenize_prompt(ref, "Once upon a time there was a little dog who saw the river", 0, 1,
                                &ids, &n))) {
        ferry_model_free(ref);
        return code;
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
            ferry_logit_stats(lr, lc, (uint32_t)n, nv, ids, &s);
            ferry_check_defaults(wt, &kl, &top);
            int ok = s.mean_kl <= kl && s.top1 >= top;
            failed |= !ok;
            fprintf(stderr, "  %-40s %-5s KL %.2e  top-1 %5.1f%%  max |d| %.2e  %s\n",
                    copies[i] + strlen(dir) + 1, wt, s.mean_kl, 100 * s.top1, s.max_abs,
                    ok ? "OK" : "OUT OF TOLERANCE");
        }
        ferry_model_free(m);
    }
    free(lr);
    free(lc);
    free(ids);
    if (code) return code;

    step("generate text with the q8_0 GGUF (random weights: the words are nonsense)");
    if (sub(cmd_run, (const char *const[]){"run", gq8, "-p", "Once upon a time", "-n", "24",
                                           "--temp", "0", NULL}))
        return EXIT_FAIL;

    step("serve the signed model with nginx on loopback and fetch it back (signature, license, hashes)");
    int fr = demo_fetch(dir, "model", pub, flag);
    if (fr < 0) fprintf(stderr, "  skipped: nginx is not installed (scripts/install-deps installs it)\n");
    failed |= fr > 0;
    fprintf(stderr, "\nferry demo: %s in %.1f s; files are in %s\n",
            failed ? "FAILED" : "all steps passed", now_seconds() - t0, dir);
    return failed ? EXIT_FAIL : EXIT_OK;
}
