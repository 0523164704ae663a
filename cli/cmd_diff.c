/* ferry diff A B: tensor-by-tensor comparison across formats (names mapped, Q/K layout undone,
 * blocks dequantized). Exit 1 when a tensor differs beyond --tolerance, or at all when both
 * sides hold it in the same type. */
#include "commands.h"
#include "output.h"
#include "ferry/diff.h"
#include "ferry/hash.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage_text[] =
    "usage: ferry diff A B [--tolerance X] [--threads N] [--json] [-q]\n\n"
    "Compares two checkpoints of one model in any formats (GGUF, Hugging Face or Meta\n"
    "directories, or plain tensor files) tensor by tensor: identical, or the largest absolute\n"
    "and relative difference. Exit 1 when a tensor is missing, has another shape, or differs\n"
    "by more than --tolerance (default: same-type pairs must be bit-identical, other pairs are\n"
    "reported only).\n";

static const char *status_name(enum ferry_diff_status s)
{
    static const char *n[] = {"identical", "different", "shape differs", "only in A", "only in B"};
    return n[s];
}

int cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"tolerance", required_argument, NULL, 't'},
        {"threads", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, 'J'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double tol = -1;
    uint64_t threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            tol = strtod(optarg, &end);
            if (*end || tol < 0) {
                errorf("--tolerance needs a non-negative number");
                return EXIT_USAGE;
            }
            break;
        }
        case 'j':
            if (parse_uint_opt("--threads", optarg, 64, &threads)) return EXIT_USAGE;
            break;
        case 'J': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    struct ferry_diff_report r;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_diff(argv[optind], argv[optind + 1], threads ? (unsigned)threads : ferry_cpu_count(),
                   &r, &err))
        return report_error(&err);
    int fail = 0;
    uint64_t nsame = 0;
    json_t *doc = json_object(), *arr = json_array();
    for (uint64_t i = 0; i < r.n; i++) {
        const struct ferry_diff_entry *e = &r.e[i];
        int bad = e->status >= FERRY_DIFF_SHAPE;
        if (e->status == FERRY_DIFF_DIFFERENT) bad = tol >= 0 ? e->max_abs > tol : e->a == e->b;
        fail |= bad;
        nsame += e->status == FERRY_DIFF_IDENTICAL;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", e->name, "status",
                              status_name(e->status), "dtype_a", ferry_dtype_name(e->a), "dtype_b",
                              ferry_dtype_name(e->b), "within_tolerance", !bad);
        if (e->status == FERRY_DIFF_DIFFERENT) {
            json_object_set_new(o, "max_abs", json_real(e->max_abs));
            json_object_set_new(o, "max_rel", json_real(e->max_rel));
            json_object_set_new(o, "different_values", json_integer((json_int_t)e->ndiff));
        }
        json_array_append_new(arr, o);
        if (!g_opts.json && (g_opts.verbosity > 0 || e->status != FERRY_DIFF_IDENTICAL)) {
            if (e->status == FERRY_DIFF_DIFFERENT)
                printf("%-40s %-6s %-6s max abs %.3g  max rel %.3g  (%llu of %llu values)%s\n",
                       e->name, ferry_dtype_name(e->a), ferry_dtype_name(e->b), e->max_abs,
                       e->max_rel, (unsigned long long)e->ndiff, (unsigned long long)e->nelem,
                       bad ? "  FAIL" : "");
            else
                printf("%-40s %s%s\n", e->name, status_name(e->status), bad ? "  FAIL" : "");
        }
    }
    json_object_set_new(doc, "compared_as", json_string(r.model ? "llama" : "tensors"));
    json_object_set_new(doc, "tensors", arr);
    json_object_set_new(doc, "identical", json_integer((json_int_t)nsame));
    json_object_set_new(doc, "total", json_integer((json_int_t)r.n));
    json_object_set_new(doc, "ok", json_boolean(!fail));
    if (g_opts.json)
        out_json(doc);
    else {
        json_decref(doc);
        printf("%llu of %llu tensors identical%s\n", (unsigned long long)nsame,
               (unsigned long long)r.n, fail ? "; differences beyond tolerance" : "");
    }
    ferry_diff_report_free(&r);
    return fail ? EXIT_FAIL : EXIT_OK;
}
