/* ferry pack DIR -o ARCHIVE: one reproducible archive of a model for mirrors. */
#include "commands.h"
#include "output.h"
#include "ferry/archive.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry pack DIR|FILE -o|--output ARCHIVE [--compression none|gzip|xz|zstd] [--force]\n\n"
    "Writes the model as one tar archive (pax) that is the same, byte for byte, for the same\n"
    "files: names in the manifest's order with the signed manifest and its signatures first,\n"
    "modification times 0, owner 0:0 without names, modes 0644 (0755 for folders and\n"
    "executables); .git and .cache are left out. The compression follows the name (.tar,\n"
    ".tar.gz or .tgz, .tar.xz, .tar.zst) unless --compression says otherwise. A plain .tar\n"
    "keeps each file contiguous, so ferry reads checkpoints inside it in place\n"
    "(ferry inspect 'ARCHIVE.tar//PATH'). The archive is written to a temporary name and\n"
    "renamed when complete; an existing ARCHIVE is replaced only with --force.\n";

static volatile sig_atomic_t g_pack_cancel;

static void on_signal(int sig)
{
    (void)sig;
    g_pack_cancel = 1;
}

static const char *filter_for(const char *out)
{
    static const char *const map[][2] = {{".tar.gz", "gzip"},
                                         {".tgz", "gzip"},
                                         {".tar.xz", "xz"},
                                         {".tar.zst", "zstd"},
                                         {".tzst", "zstd"}};
    size_t n = strlen(out);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t e = strlen(map[i][0]);
        if (n > e && !strcmp(out + n - e, map[i][0])) return map[i][1];
    }
    return "none";
}

int cmd_pack(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"compression", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ferry_pack_opts po = {.cancel = &g_pack_cancel};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'c': po.filter = optarg; break;
        case 'f': po.force = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!out || optind + 1 != argc) {
        if (!out && optind + 1 == argc) errorf("give the archive to write with -o ARCHIVE");
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if (!po.filter) po.filter = filter_for(out);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_pack_model(argv[optind], out, &po, &err)) return report_error(&err);
    notef("wrote %s (%s compression)", out, po.filter);
    return EXIT_OK;
}
