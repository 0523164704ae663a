/* ferry inspect PATH [--json] [--hash] [--full]: format, metadata and tensor table of a
 * checkpoint file, sharded directory or index, split GGUF set, llama2.c .bin or .npy. */
#include "commands.h"
#include "inspect_archive.h"
#include "inspect_torrent.h"
#include "ferry/archive.h"
#include "output.h"
#include "ferry/vocab.h"
#include "ferry/hash.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry inspect PATH [--json] [--hash] [--full] [--threads N] [-q] [-v]\n\n"
    "Shows the format, metadata and tensors of a GGUF, safetensors, PyTorch, llama2.c or\n"
    ".npy file, a model directory, a sharded index or the first file of a split GGUF set;\n"
    "the members of an archive (.tar, .tar.gz/.zst/.xz/.bz2, .zip), and a checkpoint or\n"
    "folder inside a plain .tar, read in place, as ARCHIVE.tar//PATH; a .torrent's files,\n"
    "roots and sources.\n\n"
    "  --json        one JSON document on stdout: format, metadata, tensors\n"
    "  --hash        SHA-256 of each tensor's data as a contiguous little-endian array\n"
    "  --full        list metadata arrays in full (default: arrays over 16 items give a count)\n"
    "  --threads N   hashing threads (default: all cores)\n"
    "  -q, -v        quieter, more verbose\n";

static void shape_str(const struct ferry_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (uint32_t d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%llu", d ? ", " : "",
                              (unsigned long long)t->shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static json_t *to_json(const struct ferry_ckpt *ck, uint8_t (*hashes)[32], int full)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "format", json_string(ck->format));
    if (ck->version) json_object_set_new(doc, "version", json_integer(ck->version));
    json_t *files = json_array();
    for (uint32_t i = 0; i < ck->nfiles; i++)
        json_array_append_new(files, json_bytes(ck->files[i].path, strlen(ck->files[i].path)));
    json_object_set_new(doc, "files", files);
    json_t *meta = json_object();
    for (uint64_t i = 0; i < ck->nkvs; i++)
        json_object_set_new(meta, ck->kvs[i].key,
                            json_meta_value(&ck->kvs[i].val, full ? UINT64_MAX : 16));
    json_object_set_new(doc, "metadata", meta);
    json_t *ts = json_array();
    uint64_t params = 0;
    for (uint64_t i = 0; i < ck->ntensors; i++) {
        const struct ferry_tensor *t = &ck->tensors[i];
        json_t *o = json_object(), *shape = json_array();
        json_object_set_new(o, "name", json_bytes(t->name, strlen(t->name)));
        json_object_set_new(o, "dtype", json_string(ferry_dtype_name(t->dtype)));
        for (uint32_t d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "offset", json_integer((json_int_t)t->offset));
        json_object_set_new(o, "nbytes", json_integer((json_int_t)t->nbytes));
        if (ck->nfiles > 1) json_object_set_new(o, "file", json_integer(t->file));
        if (hashes) {
            char hex[65];
            ferry_hex(hashes[i], 32, hex);
            json_object_set_new(o, "sha256", json_string(hex));
        }
        json_array_append_new(ts, o);
        params += t->nelem;
    }
    json_object_set_new(doc, "tensors", ts);
    json_object_set_new(doc, "parameters", json_integer((json_int_t)params));
    return doc;
}

static void human(const struct ferry_ckpt *ck, uint8_t (*hashes)[32])
{
    uint64_t params = 0, bytes = 0;
    for (uint64_t i = 0; i < ck->ntensors; i++) {
        params += ck->tensors[i].nelem;
        bytes += ck->tensors[i].nbytes;
    }
    printf("format:     %s", ck->format);
    if (ck->version) printf(" (version %u)", ck->version);
    printf("\nfiles:      %u\n", ck->nfiles);
    for (uint32_t i = 0; i < ck->nfiles; i++) printf("  %s\n", ck->files[i].path);
    printf("parameters: %llu (%.2f GiB of tensor data)\n", (unsigned long long)params,
           (double)bytes / (1024.0 * 1024 * 1024));
    printf("metadata:   %llu keys\n", (unsigned long long)ck->nkvs);
    size_t kw = 0;
    for (uint64_t i = 0; i < ck->nkvs; i++)
        if (strlen(ck->kvs[i].key) > kw) kw = strlen(ck->kvs[i].key);
    for (uint64_t i = 0; i < ck->nkvs; i++) {
        char val[256];
        format_meta_value(&ck->kvs[i].val, val, sizeof(val));
        printf("  %-*s  %-7s  %s\n", (int)kw, ck->kvs[i].key, ferry_vtype_name(ck->kvs[i].val.type),
               val);
    }
    printf("tensors:    %llu\n", (unsigned long long)ck->ntensors);
    size_t nw = 4;
    for (uint64_t i = 0; i < ck->ntensors; i++)
        if (strlen(ck->tensors[i].name) > nw) nw = strlen(ck->tensors[i].name);
    if (ck->ntensors)
        printf("  %-*s  %-7s  %-22s  %12s  %12s%s\n", (int)nw, "name", "dtype", "shape", "offset",
               "bytes", hashes ? "  sha256" : "");
    for (uint64_t i = 0; i < ck->ntensors; i++) {
        const struct ferry_tensor *t = &ck->tensors[i];
        char shape[160], hex[65] = "";
        shape_str(t, shape, sizeof(shape));
        if (hashes) ferry_hex(hashes[i], 32, hex);
        printf("  %-*s  %-7s  %-22s  %12llu  %12llu%s%s\n", (int)nw, t->name,
               ferry_dtype_name(t->dtype), shape, (unsigned long long)t->offset,
               (unsigned long long)t->nbytes, hashes ? "  " : "", hex);
    }
}

/* tokenizer.model (sentencepiece or tiktoken) and tokenizer.json hold a vocabulary, not
 * tensors: inspect shows what `tokenize` would use */
static int is_tokenizer_file(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t l = strlen(base);
    return !strcmp(base, "tokenizer.json") || (l > 6 && !strcmp(base + l - 6, ".model"));
}

static int inspect_tokenizer(const char *path)
{
    struct ferry_vocab v;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_vocab_load(path, 0, &v, &err)) return report_error(&err);
    const char *kind = !strcmp(v.model, "llama") ? "sentencepiece"
                       : strstr(path, ".json")   ? "tokenizer.json (byte-level BPE)"
                                                 : "tiktoken (byte-level BPE)";
    uint64_t control = 0;
    for (uint64_t i = 0; v.types && i < v.n; i++) control += v.types[i] == FERRY_TOK_CONTROL;
    const char *bos = v.bos >= 0 ? v.tokens[v.bos].s : "",
               *eos = v.eos >= 0 ? v.tokens[v.eos].s : "";
    if (g_opts.json)
        out_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "format",
                           "tokenizer", "kind", kind, "model", v.model, "tokens", (json_int_t)v.n,
                           "control_tokens", (json_int_t)control, "merges", (json_int_t)v.nmerges,
                           "bos_token_id", (json_int_t)v.bos, "bos_token",
                           json_bytes(bos, strlen(bos)), "eos_token_id", (json_int_t)v.eos,
                           "eos_token", json_bytes(eos, strlen(eos))));
    else
        printf("format: %s\ntokenizer model: %s\ntokens: %llu (%llu control)\nmerges: %llu\n"
               "bos: %lld %s\neos: %lld %s\n",
               kind, v.model, (unsigned long long)v.n, (unsigned long long)control,
               (unsigned long long)v.nmerges, (long long)v.bos, bos, (long long)v.eos, eos);
    ferry_vocab_free(&v);
    return EXIT_OK;
}

/* A Meta checkpoint split model-parallel (consolidated.00.pth, .01, ...): each shard's
 * tensors, as the shards hold the same names with slices of the weights. */
static int inspect_meta_shards(const char *dir, int hash, int full)
{
    json_t *shards = json_array();
    int code = EXIT_OK;
    size_t n = 0;
    for (;; n++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/consolidated.%02zu.pth", dir, n);
        if (access(path, F_OK) != 0) break;
        struct ferry_ckpt ck;
        struct ferry_error err;
        ferry_ckpt_init(&ck);
        ferry_error_clear(&err);
        uint8_t(*hashes)[32] = NULL;
        int rc = ferry_ckpt_open(&ck, path, &err);
        if (!rc && hash) {
            hashes = calloc(ck.ntensors ? (size_t)ck.ntensors : 1, 32);
            rc = hashes
                     ? ferry_hash_tensors(&ck, g_opts.threads, hashes, &err)
                     : ferry_error_set(&err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
        }
        if (rc)
            code = report_error(&err);
        else if (g_opts.json)
            json_array_append_new(shards, to_json(&ck, hashes, full));
        else {
            printf("==> shard %zu: %s\n", n, path);
            human(&ck, hashes);
        }
        free(hashes);
        ferry_ckpt_free(&ck);
        if (rc) break;
    }
    if (g_opts.json && code == EXIT_OK)
        out_json(json_pack("{s:s, s:I, s:o}", "format", "meta", "shards_count", (json_int_t)n,
                           "shards", shards));
    else
        json_decref(shards);
    if (!g_opts.json && code == EXIT_OK)
        printf("Meta checkpoint in %zu model-parallel shards (ferry convert merges them)\n", n);
    return code;
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},  {"hash", no_argument, NULL, 'H'},
        {"full", no_argument, NULL, 'f'},  {"threads", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},  {NULL, 0, NULL, 0},
    };
    int hash = 0, full = 0, c;
    uint64_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': g_opts.json = 1; break;
        case 'H': hash = 1; break;
        case 'f': full = 1; break;
        case 't':
            if (parse_uint_opt("--threads", optarg, 1024, &v)) return EXIT_USAGE;
            g_opts.threads = (unsigned)v;
            break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    struct ferry_ckpt ck;
    struct ferry_error err;
    ferry_ckpt_init(&ck);
    ferry_error_clear(&err);
    if (is_tokenizer_file(argv[optind])) return inspect_tokenizer(argv[optind]);
    if (is_torrent_file(argv[optind])) return inspect_torrent(argv[optind]);
    if (ferry_archive_name(argv[optind]) && !strstr(argv[optind], "//"))
        return inspect_archive(argv[optind]);
    char shard[4200];
    snprintf(shard, sizeof(shard), "%s/consolidated.01.pth", argv[optind]);
    if (access(shard, F_OK) == 0) return inspect_meta_shards(argv[optind], hash, full);
    uint8_t(*hashes)[32] = NULL;
    int rc = ferry_ckpt_open(&ck, argv[optind], &err);
    if (!rc && hash) {
        hashes = calloc(ck.ntensors ? (size_t)ck.ntensors : 1, 32);
        if (!hashes)
            rc = ferry_error_set(&err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL,
                                 "out of memory");
        else
            rc = ferry_hash_tensors(&ck, g_opts.threads, hashes, &err);
    }
    int code = EXIT_OK;
    if (rc)
        code = report_error(&err);
    else if (g_opts.json)
        out_json(to_json(&ck, hashes, full));
    else
        human(&ck, hashes);
    free(hashes);
    ferry_ckpt_free(&ck);
    return code;
}
