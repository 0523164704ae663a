/* ferry seed PATH...: seed model directories, files and .torrent files until SIGINT/SIGTERM. */
#include "commands.h"
#include "output.h"
#include "ferry/torrent_fetch.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry seed PATH... [--listen ADDR:PORT] [--data DIR] [--state DIR]\n"
    "                  [--upload-limit BYTES/S] [--utp] [--dht] [--lsd] [--upnp] [--json] [-q]\n\n"
    "Seeds every PATH at once (no queue): a model directory or file, whose hybrid torrent is\n"
    "made on first use and kept (with a stamp of the files' sizes and times) in the state\n"
    "folder, or a .torrent whose data lies in --data DIR (default: beside the .torrent). Each\n"
    "torrent's magnet link is printed as it starts. On SIGINT/SIGTERM resume data is saved, so\n"
    "the next start seeds without hashing again.\n"
    "  --listen ADDR:PORT  where to accept peers (default 0.0.0.0:6881 and [::]:6881; port 0:\n"
    "                      any free port, printed)\n"
    "  --state DIR         made torrents and resume data (default $XDG_STATE_HOME/ferry/seed)\n"
    "  --upload-limit R    bytes per second over all torrents (K, M suffixes; default none)\n"
    "  --utp, --dht, --lsd, --upnp  uTP, the DHT, local peer discovery, UPnP/NAT-PMP port\n"
    "                      mapping (all off by default)\n"
    "  --json              NDJSON: listening, added, status (every second), error\n";

static volatile sig_atomic_t g_seed_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_seed_stop = 1;
}

static void on_listening(void *ctx, int port)
{
    (void)ctx;
    if (g_opts.json)
        out_ndjson(json_pack("{s:s, s:i}", "event", "listening", "port", port));
    else
        notef("listening on port %d", port);
}

static void on_added(void *ctx, const char *path, const char *magnet, int made)
{
    (void)ctx;
    if (g_opts.json)
        out_ndjson(json_pack("{s:s, s:s, s:s, s:b}", "event", "added", "path", path, "magnet",
                             magnet, "made", made));
    else {
        notef("seeding %s%s", path, made ? " (torrent made now)" : "");
        printf("%s\n", magnet);
        fflush(stdout);
    }
}

static void on_status(void *ctx, const struct ferry_seed_row *rows, size_t n)
{
    double *last = ctx;
    if (g_opts.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                a, json_pack("{s:s, s:I, s:I, s:I, s:i, s:b, s:s}", "name", rows[i].name, "bytes",
                             (json_int_t)rows[i].bytes, "uploaded", (json_int_t)rows[i].uploaded,
                             "upload_rate", (json_int_t)rows[i].upload_rate, "peers", rows[i].peers,
                             "seeding", rows[i].seeding, "error", rows[i].error));
        out_ndjson(json_pack("{s:s, s:o}", "event", "status", "torrents", a));
        return;
    }
    if (now_seconds() - *last < 10) return;
    *last = now_seconds();
    uint64_t up = 0;
    int64_t rate = 0;
    int peers = 0;
    for (size_t i = 0; i < n; i++) {
        up += rows[i].uploaded, rate += rows[i].upload_rate, peers += rows[i].peers;
        if (rows[i].error[0]) warnf("%s: %s", rows[i].name, rows[i].error);
    }
    notef("%zu torrents, %d peers, %" PRIu64 " bytes sent, %.1f MB/s", n, peers, up,
          (double)rate / 1e6);
}

static void on_error(void *ctx, const char *path, const struct ferry_error *err)
{
    (void)ctx, (void)path;
    if (g_opts.json)
        out_ndjson(json_pack("{s:s, s:s, s:s, s:i}", "event", "error", "path", path, "message",
                             err->cause, "exit", -err->code));
    report_error(err);
}

static int parse_rate(const char *s, int64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    if (end == s || *end || v > (1ull << 31) - 1) return -1;
    *out = (int64_t)v;
    return 0;
}

int cmd_seed(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'L'},
        {"data", required_argument, NULL, 'd'},
        {"state", required_argument, NULL, 's'},
        {"upload-limit", required_argument, NULL, 'u'},
        {"utp", no_argument, NULL, 'U'},
        {"dht", no_argument, NULL, 'D'},
        {"lsd", no_argument, NULL, 'l'},
        {"upnp", no_argument, NULL, 'N'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ferry_seed_opts so = {.cancel = &g_seed_stop};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'L': so.net.listen = optarg; break;
        case 'd': so.data_dir = optarg; break;
        case 's': so.state_dir = optarg; break;
        case 'u':
            if (parse_rate(optarg, &so.net.upload_limit)) {
                errorf("--upload-limit: '%s' is not a rate such as 10M", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'U': so.net.utp = 1; break;
        case 'D': so.net.dht = 1; break;
        case 'l': so.net.lsd = 1; break;
        case 'N': so.net.upnp = 1; break;
        case 'j': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double last = now_seconds();
    struct ferry_seed_events ev = {&last, on_listening, on_added, on_status, on_error};
    struct ferry_error err;
    ferry_error_clear(&err);
    int rc =
        ferry_seed((const char *const *)argv + optind, (size_t)(argc - optind), &so, &ev, &err);
    if (rc) return -rc;
    notef("stopped; resume data saved");
    return EXIT_OK;
}
