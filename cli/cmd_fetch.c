/* ferry fetch URL... : verified, resumable, parallel HTTP(S) downloads into a directory.
 * SIGINT/SIGTERM stop cleanly (exit 75) and a rerun resumes. */
#include "commands.h"
#include "output.h"
#include "progress.h"
#include "ferry/fetch.h"
#include "ferry/hash.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry fetch URL... [-o DIR] [--connections N] [--segment-size BYTES]\n"
    "                  [--sha256 HEX] [--tries N] [--token-file F] [--force] [--json] [-q]\n\n"
    "Downloads each URL into DIR (default .) under the last part of its path. Ranges are\n"
    "fetched over N parallel connections (default 4) into DIR/.NAME.part; finished segments\n"
    "are recorded in DIR/.NAME.part.json, so an interrupted fetch, even killed, resumes\n"
    "where it stopped. A file gets its final name only after its size and SHA-256 match\n"
    "(--sha256, for a single URL, or the server's X-Linked-Etag); wrong bytes are discarded.\n"
    "A transfer that stalls is retried with jittered exponential backoff (or Retry-After)\n"
    "up to --tries times (default 6); one that makes progress resumes without counting.\n"
    "--token-file sends its content as a bearer token, only to the URL's own host.\n"
    "--json prints NDJSON events: start, progress, done, error, summary.\n"
    "hf://, --manifest/--mirror, --url-template and BitTorrent sources are not built yet.\n";

static volatile sig_atomic_t g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    g_cancel = 1;
}

struct fetch_ui {
    struct progress bar;
    const char *name;
    uint64_t last_bytes;
    double last_event;
};

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void event(const char *type, const char *name, json_t *extra)
{
    json_t *e = json_pack("{s:s}", "event", type);
    if (name) json_object_set_new(e, "file", json_string(name));
    if (extra) json_object_update(e, extra), json_decref(extra);
    char *s = json_dumps(e, JSON_COMPACT);
    if (s) printf("%s\n", s), fflush(stdout);
    free(s);
    json_decref(e);
}

static void on_total(void *ctx, uint64_t total)
{
    struct fetch_ui *u = ctx;
    if (!g_opts.json) progress_start(&u->bar, u->name, total);
    else u->bar.total = total;
}

static void on_bytes(void *ctx, uint64_t bytes)
{
    struct fetch_ui *u = ctx;
    if (bytes < u->last_bytes) u->last_bytes = 0; /* a restarted transfer */
    if (!g_opts.json) {
        progress_add(&u->bar, bytes - u->last_bytes);
    } else if (wall() - u->last_event >= 1.0) {
        u->last_event = wall();
        event("progress", u->name, json_pack("{s:I, s:I}", "bytes", (json_int_t)bytes, "total",
                                             (json_int_t)u->bar.total));
    }
    u->last_bytes = bytes;
}

/* The file name a URL is saved under: the last path segment, query and fragment removed. */
static int name_of(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t end = strcspn(p, "?#");
    const char *slash = NULL;
    for (const char *q = p; q < p + end; q++)
        if (*q == '/') slash = q;
    if (!slash || (size_t)(p + end - slash - 1) >= n || p + end == slash + 1) return -1;
    memcpy(out, slash + 1, (size_t)(p + end - slash - 1));
    out[p + end - slash - 1] = 0;
    return 0;
}

static int read_token(const char *path, char *tok, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errorf("%s: %s", path, strerror(errno));
        return -1;
    }
    size_t got = fread(tok, 1, n - 1, f);
    fclose(f);
    tok[got] = 0;
    tok[strcspn(tok, "\r\n")] = 0;
    if (!tok[0]) {
        errorf("%s: empty token", path);
        return -1;
    }
    return 0;
}

static int parse_sha(const char *hex, uint8_t out[32])
{
    if (strlen(hex) != 64) return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

int cmd_fetch(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"connections", required_argument, NULL, 'c'},
        {"segment-size", required_argument, NULL, 's'},
        {"sha256", required_argument, NULL, 'S'},
        {"tries", required_argument, NULL, 'T'},
        {"token-file", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'J'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ferry_fetch_opts o = {.cancel = &g_cancel};
    const char *dir = ".", *sha_hex = NULL, *token_file = NULL;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'c':
            if (parse_uint_opt("--connections", optarg, 64, &v) || !v) return EXIT_USAGE;
            o.connections = (unsigned)v;
            break;
        case 's':
            if (parse_uint_opt("--segment-size", optarg, 1ull << 40, &v) || v < 4096) {
                errorf("--segment-size needs at least 4096 bytes");
                return EXIT_USAGE;
            }
            o.segment_size = v;
            break;
        case 'S': sha_hex = optarg; break;
        case 'T':
            if (parse_uint_opt("--tries", optarg, 1000, &v) || !v) return EXIT_USAGE;
            o.max_tries = (unsigned)v;
            break;
        case 't': token_file = optarg; break;
        case 'f': o.force = 1; break;
        case 'J': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    uint8_t sha[32];
    if (sha_hex) {
        if (parse_sha(sha_hex, sha)) {
            errorf("--sha256 needs 64 hex digits");
            return EXIT_USAGE;
        }
        if (argc - optind != 1) {
            errorf("--sha256 applies to a single URL");
            return EXIT_USAGE;
        }
        o.sha256 = sha;
    }
    for (int i = optind; i < argc; i++) {
        if (strncmp(argv[i], "http://", 7) && strncmp(argv[i], "https://", 8)) {
            errorf("%s: only http:// and https:// sources are built so far (hf://, magnet and "
                   "--manifest sources are not)", argv[i]);
            return EXIT_USAGE;
        }
    }
    char token[4096];
    if (token_file) {
        if (read_token(token_file, token, sizeof(token))) return EXIT_USAGE;
        o.bearer = token;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 && mkdir(dir, 0755) != 0) {
        errorf("%s: cannot create directory: %s", dir, strerror(errno));
        return 73;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ferry_fetch_global_init();

    int worst = EXIT_OK;
    uint64_t total_bytes = 0, total_down = 0;
    unsigned nok = 0;
    double t0 = wall();
    for (int i = optind; i < argc && !g_cancel; i++) {
        char name[1024];
        if (name_of(argv[i], name, sizeof(name))) {
            errorf("cannot tell a file name from a URL without a path: give one URL per file");
            worst = EXIT_USAGE;
            continue;
        }
        struct fetch_ui ui = {.name = name};
        o.progress = on_bytes, o.progress_total = on_total, o.progress_ctx = &ui;
        if (g_opts.json) event("start", name, NULL);
        struct ferry_fetch_result r;
        struct ferry_error err;
        ferry_error_clear(&err);
        int rc = ferry_fetch_url(argv[i], dir, name, &o, &r, &err);
        if (!g_opts.json && ui.bar.total) progress_end(&ui.bar);
        char hex[65];
        ferry_hex(r.sha256, 32, hex);
        if (rc) {
            if (g_opts.json)
                event("error", name, json_pack("{s:s, s:i}", "message", err.cause, "exit", -rc));
            int code = report_error(&err);
            if (worst == EXIT_OK || code == 75) worst = code;
            continue;
        }
        nok++;
        total_bytes += r.size, total_down += r.downloaded;
        static const char *by[] = {"size only", "--sha256", "X-Linked-Etag"};
        if (g_opts.json)
            event("done", name, json_pack("{s:I, s:s, s:s, s:I, s:i, s:b, s:b}", "size", (json_int_t)r.size,
                                          "sha256", hex, "verified_by", by[r.verified_by], "downloaded",
                                          (json_int_t)r.downloaded, "retries", r.retries, "resumed",
                                          r.resumed, "single_stream", r.single_stream));
        else
            notef("%s/%s: %llu bytes, sha256 %s (checked against %s)%s%s", dir, name,
                  (unsigned long long)r.size, hex, by[r.verified_by], r.resumed ? ", resumed" : "",
                  r.single_stream ? ", server ignored Range: one stream" : "");
    }
    double secs = wall() - t0;
    if (g_opts.json)
        event("summary", NULL, json_pack("{s:i, s:i, s:I, s:I, s:f}", "files", nok, "failed",
                                         argc - optind - (int)nok, "bytes", (json_int_t)total_bytes,
                                         "downloaded", (json_int_t)total_down, "seconds", secs));
    return worst;
}
