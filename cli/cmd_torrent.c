/* ferry torrent create|magnet: .torrent files of a model file or directory, and their magnet
 * links. */
#include "commands.h"
#include "output.h"
#include "progress.h"
#include "ferry/file.h"
#include "ferry/hub.h"
#include "ferry/torrent.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: ferry torrent create PATH [-o F] [--v1|--v2|--hybrid] [--piece-size N|auto]\n"
    "                    [--web-seed URL]... [--tracker URL]... [--name N] [--date] [--force]\n"
    "                    [--hub ORG/NAME]\n"
    "       ferry torrent magnet F.torrent\n\n"
    "create: a .torrent of a file or a model directory (every file but .git and .cache, the\n"
    "signed manifest included). The same files and options always give the same bytes: no\n"
    "creation date unless --date.\n"
    "  -o, --output F      where to write (default: NAME.torrent)\n"
    "  --hybrid            v1 and v2 (BEP 52) at once, with BEP 47 pad files (default)\n"
    "  --v2                v2 only: per-file SHA-256 merkle roots, as in ferry's manifests\n"
    "  --v1                v1 only, for clients without pad-file support (aria2, Transmission 3)\n"
    "  --piece-size N|auto a power of two of at least 16K (K, M, G suffixes). auto (default)\n"
    "                      aims at about 8,192 pieces of 16 KiB to 16 MiB, and never more than\n"
    "                      65,536 pieces: that keeps a hybrid .torrent under 3.5 MB for any\n"
    "                      model size (libtorrent refuses .torrent files over 10 MB)\n"
    "  --web-seed URL      a BEP 19 web seed (repeatable); for a directory the client asks for\n"
    "                      URL/NAME/PATH\n"
    "  --tracker URL       an announce URL (repeatable, one tier each, in order)\n"
    "  --name N            the top folder's name (default: the directory's)\n"
    "  --hub ORG/NAME      for a folder fetched from a hub (ferry fetch hf://, or hf download\n"
    "                      --local-dir): the top folder is named by the commit the folder holds\n"
    "                      and HF_ENDPOINT/ORG/NAME/resolve/ becomes a web seed, so the hub\n"
    "                      serves every file of the torrent at that commit (BEP 19)\n"
    "  --date              record the creation date\n"
    "  --threads N         hashing threads (default: all cores)\n"
    "  --json              print the result (torrent, pieces, sizes, magnet) as JSON\n"
    "  --force             overwrite F\n"
    "magnet: the magnet link of a .torrent (btih for v1, btmh for v2, both for a hybrid).\n";

static int parse_piece(const char *s, uint64_t *out)
{
    if (!strcmp(s, "auto")) {
        *out = 0;
        return 0;
    }
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1u << 10, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1u << 20, end++;
    else if (*end == 'G' || *end == 'g')
        mul = 1u << 30, end++;
    if (end == s || *end || v == 0 || v > (1ull << 30) / mul) return -1;
    *out = v * mul;
    return 0;
}

static void hashed_cb(void *ctx, uint64_t hashed, uint64_t total)
{
    struct progress *p = ctx;
    if (!p->total) p->total = total;
    if (hashed > p->done) progress_add(p, hashed - p->done);
}

static int create(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"v1", no_argument, NULL, '1'},
        {"v2", no_argument, NULL, '2'},
        {"hybrid", no_argument, NULL, 'H'},
        {"piece-size", required_argument, NULL, 'p'},
        {"web-seed", required_argument, NULL, 'w'},
        {"tracker", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'n'},
        {"date", no_argument, NULL, 'd'},
        {"hub", required_argument, NULL, 'B'},
        {"force", no_argument, NULL, 'f'},
        {"threads", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ferry_torrent_opts o = {.kind = FERRY_TORRENT_HYBRID};
    const char *out = NULL, *hub = NULL;
    char commit[41], hub_seed[1024];
    const char **seeds = calloc((size_t)argc + 1, sizeof(char *));
    const char **trackers = calloc((size_t)argc + 1, sizeof(char *));
    int force = 0, c, rc = EXIT_USAGE;
    uint64_t v;
    if (!seeds || !trackers) goto out;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case '1': o.kind = FERRY_TORRENT_V1; break;
        case '2': o.kind = FERRY_TORRENT_V2; break;
        case 'H': o.kind = FERRY_TORRENT_HYBRID; break;
        case 'p':
            if (parse_piece(optarg, &o.piece_size)) {
                errorf("--piece-size: '%s' is not auto or a size such as 4M", optarg);
                goto out;
            }
            break;
        case 'w': seeds[o.nweb_seeds++] = optarg; break;
        case 't': trackers[o.ntrackers++] = optarg; break;
        case 'n': o.name = optarg; break;
        case 'B': hub = optarg; break;
        case 'd': o.creation_date = (int64_t)time(NULL); break;
        case 'f': force = 1; break;
        case 'T':
            if (parse_uint_opt("--threads", optarg, 256, &v)) goto out;
            o.threads = (unsigned)v;
            break;
        case 'j': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h':
            fputs(usage_text, stdout);
            rc = EXIT_OK;
            goto out;
        default: fputs(usage_text, stderr); goto out;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage_text, stderr);
        goto out;
    }
    o.web_seeds = seeds, o.trackers = trackers;
    const char *path = argv[optind];
    if (hub) {
        struct ferry_error herr;
        ferry_error_clear(&herr);
        struct ferry_hub_repo r;
        char spec[512];
        snprintf(spec, sizeof(spec), "hf://%s", hub);
        memset(&r, 0, sizeof(r));
        if (ferry_hub_parse(spec, &r, &herr) || ferry_hub_local_commit(path, commit, &herr)) {
            rc = report_error(&herr);
            goto out;
        }
        snprintf(hub_seed, sizeof(hub_seed), "%s/%s/resolve/", r.endpoint, r.repo);
        ferry_hub_free(&r);
        seeds[o.nweb_seeds++] = hub_seed;
        o.name = commit;
        notef("%s holds commit %s of %s: the hub is a web seed (%s)", path, commit, hub, hub_seed);
    }
    struct progress bar;
    progress_start(&bar, "hashing", 0);
    o.progress = hashed_cb, o.ctx = &bar;
    struct ferry_bbuf buf;
    struct ferry_torrent_plan plan;
    struct ferry_error err;
    ferry_error_clear(&err);
    rc = ferry_torrent_create(path, &o, &buf, &plan, &err);
    progress_end(&bar);
    if (rc) {
        rc = report_error(&err);
        goto out;
    }
    struct ferry_torrent_info ti;
    char defname[4096];
    if (!out) {
        if (ferry_torrent_parse(buf.p, buf.len, "new torrent", &ti, &err)) {
            ferry_bbuf_free(&buf);
            rc = report_error(&err);
            goto out;
        }
        snprintf(defname, sizeof(defname), "%s.torrent", ti.name);
        ferry_torrent_info_free(&ti);
        out = defname;
    }
    rc = ferry_write_file(out, buf.p, buf.len, force, &err);
    if (!rc) rc = ferry_torrent_parse(buf.p, buf.len, out, &ti, &err);
    ferry_bbuf_free(&buf);
    if (rc) {
        rc = report_error(&err);
        goto out;
    }
    if (plan.over_bound)
        warnf("%" PRIu64
              " pieces is over the %u that keeps the .torrent small; clients may be slow "
              "to load it (--piece-size auto stays under)",
              plan.pieces, FERRY_TORRENT_MAX_PIECES);
    char *magnet = ferry_torrent_magnet(&ti);
    if (g_opts.json) {
        json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s?}", "torrent", out, "files",
                              (json_int_t)plan.files, "bytes", (json_int_t)plan.bytes, "piece_size",
                              (json_int_t)plan.piece_size, "pieces", (json_int_t)plan.pieces,
                              "torrent_bytes", (json_int_t)plan.torrent_bytes, "magnet", magnet);
        out_json(j);
    } else {
        notef("wrote %s: %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64 " pieces of %" PRIu64
              " KiB, %s (%" PRIu64 " bytes)",
              out, plan.files, plan.bytes, plan.pieces, plan.piece_size >> 10,
              o.kind == FERRY_TORRENT_HYBRID ? "hybrid v1+v2"
              : o.kind == FERRY_TORRENT_V2   ? "v2"
                                             : "v1",
              plan.torrent_bytes);
        if (magnet) printf("%s\n", magnet);
    }
    free(magnet);
    ferry_torrent_info_free(&ti);
    rc = EXIT_OK;
out:
    free(seeds);
    free(trackers);
    return rc;
}

static int magnet(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc == 2 ? stdout : stderr);
        return argc == 2 ? EXIT_OK : EXIT_USAGE;
    }
    struct ferry_torrent_info ti;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_torrent_load(argv[1], &ti, &err)) return report_error(&err);
    char *m = ferry_torrent_magnet(&ti);
    ferry_torrent_info_free(&ti);
    if (!m) {
        errorf("out of memory");
        return EXIT_INTERNAL;
    }
    printf("%s\n", m);
    free(m);
    return EXIT_OK;
}

int cmd_torrent(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "create")) return create(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "magnet")) return magnet(argc - 1, argv + 1);
    int help = argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    fputs(usage_text, help ? stdout : stderr);
    return help ? EXIT_OK : EXIT_USAGE;
}
