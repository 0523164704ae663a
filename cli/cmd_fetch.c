/* ferry fetch URL... : verified, resumable, parallel HTTP(S) downloads into a directory.
 * SIGINT/SIGTERM stop cleanly (exit 75) and a rerun resumes. */
#include "commands.h"
#include "output.h"
#include "fetch_render.h"
#include "ferry/fetch_flow.h"
#include "ferry/file.h"
#include "ferry/fetch.h"
#include "ferry/hash.h"
#include "ferry/torrent_fetch.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry fetch URL... [-o|--output DIR] [-j|--jobs N] [--connections N]\n"
    "                  [--segment-size BYTES]\n"
    "                  [--sha256 HEX] [--tries N] [--speed-limit B --speed-time S]\n"
    "                  [--token-file F] [--extract [--pubkey K]] [--force] [--json] [-q]\n"
    "       ferry fetch hf://ORG/NAME[@REV][/PATH] [-o DIR] [--include GLOB]... [--exclude "
    "GLOB]...\n"
    "                  [--hf-cache] [options above]\n"
    "       ferry fetch --manifest URL_OR_PATH --pubkey K --mirror URL... [-o DIR]\n"
    "                  [--accept-license=SHA256 [--name N]] [--trust-acceptor KEY.pub]...\n"
    "                  [options above]\n"
    "       ferry fetch --url-template URL --files A,B,... [-o DIR] [options above]\n"
    "       ferry fetch magnet:?...|F.torrent [-o DIR] [--peer HOST:PORT]... [--listen ADDR:PORT]\n"
    "                  [--manifest URL_OR_PATH --pubkey K [--accept-license=SHA256 --name N]]\n"
    "                  [--utp] [--dht] [--stall-timeout S] [--json] [-q]\n\n"
    "Downloads each URL into DIR (default .) under the last part of its path, --jobs N files\n"
    "at once (default 1; as aria2's -j; one total progress bar then). Ranges are\n"
    "fetched over N parallel connections (default 4) into DIR/.NAME.part, in segments of\n"
    "--segment-size bytes (default 16 MiB; a multiple of it for files of more than 65536\n"
    "segments); finished segments\n"
    "are recorded in DIR/.NAME.part.json, so an interrupted fetch, even killed, resumes\n"
    "where it stopped. A file gets its final name only after its size and SHA-256 match\n"
    "(--sha256, for a single URL, or the server's X-Linked-Etag); wrong bytes are discarded.\n"
    "A transfer that stalls is retried with jittered exponential backoff (or Retry-After)\n"
    "up to --tries times (default 6); one that made progress resumes without counting. A\n"
    "transfer slower than --speed-limit bytes/s (default 1024) for --speed-time seconds\n"
    "(default 30) is aborted, and it, like any attempt that moved its bytes slower than that,\n"
    "counts as a failed try: a trickling server cannot keep a fetch alive forever.\n"
    "--token-file sends its content as a bearer token, only to the URL's own host.\n"
    "--extract unpacks an archive URL (.tar, .tar.gz/.zst/.xz/.bz2, .zip) into DIR while it is\n"
    "fetched (resumably, under a hidden name; the bytes in order so far are unpacked as they\n"
    "arrive): members go to a staging folder first, are checked against the signed manifest\n"
    "inside when --pubkey is given, and get their names only when the whole archive arrived\n"
    "and all is well; unsafe members (.., links, devices, bombs) are refused.\n"
    "--json prints NDJSON events: start, progress, done, error, summary.\n"
    "\n"
    "hf://ORG/NAME[@REV][/PATH] fetches the files of a Hugging Face-compatible hub repository\n"
    "(HF_ENDPOINT, token from HF_TOKEN or $HF_HOME/token) at the commit the revision names,\n"
    "each checked against the tree listing (SHA-256 for LFS files, git blob SHA-1 otherwise);\n"
    "files already present and matching are skipped. --include/--exclude GLOB filter paths.\n"
    "--hf-cache writes the huggingface_hub cache layout (blobs, refs, snapshots) under DIR\n"
    "(default $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub).\n"
    "\n"
    "--manifest takes a signed manifest (model.manifest.json with its .minisig beside it, or an\n"
    "OMS bundle model.sig; a URL or a path), copies it into DIR and verifies it with --pubkey\n"
    "before anything else; then every file it names is fetched from the --mirror base URLs in\n"
    "order, a mirror that fails or serves other bytes being named and skipped. When the\n"
    "manifest marks license texts as requiring acceptance, those are fetched first and nothing\n"
    "else until an acceptance is recorded: on a terminal by typing I ACCEPT, otherwise with\n"
    "--accept-license=SHA256 [--name N] (see ferry license). A record counts only when it names\n"
    "this manifest's root and was signed by your acceptance key or a --trust-acceptor key.\n"
    "\n"
    "--url-template 'https://host/*?Policy=...' --files a,b/c,...: Meta's presigned links;\n"
    "each name replaces the '*'. The link's expiry is decoded from its policy and shown; the\n"
    "query string is a credential and never printed or stored.\n"
    "\n"
    "magnet:?... or F.torrent fetches over BitTorrent (libtorrent): metadata from peers for a\n"
    "magnet (its x.pe peers and --peer are connected), web seeds used as HTTP mirrors. Files\n"
    "land in DIR (default ./NAME: the torrent's name, or the magnet's dn decoded with '/' made\n"
    "'_', else its hash) once complete; until then they are in DIR/.ferry-bt-HASH,\n"
    "from which a rerun resumes (a clean stop saves libtorrent's resume data; after a kill the\n"
    "pieces present are checked, not fetched again). With --manifest the torrent's BEP 52\n"
    "roots must equal the signed manifest's before any data is asked for (exit 1 otherwise),\n"
    "license texts come first and the rest waits for an acceptance, and every file is checked\n"
    "against the manifest before it gets its name. TCP only unless --utp; no DHT unless --dht;\n"
    "--stall-timeout S (default 300) gives up when no data arrives for S seconds.\n";

static volatile sig_atomic_t g_fetch_cancel;

static void on_signal(int sig)
{
    (void)sig;
    g_fetch_cancel = 1;
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

static int is_torrent_source(const char *s)
{
    size_t n = strlen(s);
    return !strncmp(s, "magnet:", 7) ||
           (n > 8 && !strcmp(s + n - 8, ".torrent") && strncmp(s, "http", 4));
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

int cmd_fetch(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"jobs", required_argument, NULL, 'j'},
        {"connections", required_argument, NULL, 'c'},
        {"segment-size", required_argument, NULL, 's'},
        {"sha256", required_argument, NULL, 'S'},
        {"tries", required_argument, NULL, 'T'},
        {"speed-limit", required_argument, NULL, 'Y'},
        {"speed-time", required_argument, NULL, 'y'},
        {"token-file", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},
        {"include", required_argument, NULL, 'I'},
        {"exclude", required_argument, NULL, 'X'},
        {"hf-cache", no_argument, NULL, 'H'},
        {"manifest", required_argument, NULL, 'M'},
        {"pubkey", required_argument, NULL, 'k'},
        {"mirror", required_argument, NULL, 'm'},
        {"accept-license", required_argument, NULL, 'a'},
        {"name", required_argument, NULL, 'n'},
        {"trust-acceptor", required_argument, NULL, 'A'},
        {"url-template", required_argument, NULL, 'U'},
        {"files", required_argument, NULL, 'F'},
        {"extract", no_argument, NULL, 'E'},
        {"peer", required_argument, NULL, 'P'},
        {"listen", required_argument, NULL, 'L'},
        {"utp", no_argument, NULL, 'u'},
        {"dht", no_argument, NULL, 'D'},
        {"stall-timeout", required_argument, NULL, 'W'},
        {"json", no_argument, NULL, 'J'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ferry_fetch_opts o = {.cancel = &g_fetch_cancel};
    const char *dir = NULL, *sha_hex = NULL, *token_file = NULL;
    const char *inc[64], *exc[64];
    struct ferry_fetch_hub_opts hub = {.include = inc, .exclude = exc};
    const char *mirrors[64], *tmpl = NULL, *tmpl_files = NULL;
    const char *trust[16];
    struct ferry_fetch_manifest_opts man = {.mirrors = mirrors, .license.trust = trust};
    const char *peers[64];
    int extract = 0;
    struct ferry_fetch_torrent_opts tor = {.peers = peers};
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:j:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'j':
            if (parse_uint_opt("--jobs", optarg, 64, &v) || !v) return EXIT_USAGE;
            o.jobs = (unsigned)v;
            break;
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
        case 'Y':
            if (parse_uint_opt("--speed-limit", optarg, 1ull << 40, &v) || !v) return EXIT_USAGE;
            o.low_speed_limit = (long)v;
            break;
        case 'y':
            if (parse_uint_opt("--speed-time", optarg, 86400, &v) || !v) return EXIT_USAGE;
            o.low_speed_time_s = (long)v;
            break;
        case 'T':
            if (parse_uint_opt("--tries", optarg, 1000, &v) || !v) return EXIT_USAGE;
            o.max_tries = (unsigned)v;
            break;
        case 't': token_file = optarg; break;
        case 'f': o.force = 1; break;
        case 'I':
        case 'X':
            if ((c == 'I' ? hub.ninclude : hub.nexclude) >= 64) {
                errorf("at most 64 --include and 64 --exclude globs");
                return EXIT_USAGE;
            }
            if (c == 'I')
                inc[hub.ninclude++] = optarg;
            else
                exc[hub.nexclude++] = optarg;
            break;
        case 'H': hub.hf_cache = 1; break;
        case 'M': man.manifest = optarg; break;
        case 'k': man.sig.pubkey = optarg; break;
        case 'm':
            if (man.nmirrors >= 64) {
                errorf("at most 64 mirrors");
                return EXIT_USAGE;
            }
            mirrors[man.nmirrors++] = optarg;
            break;
        case 'a': man.accept = optarg; break;
        case 'n': man.who.name = optarg; break;
        case 'A':
            if (man.license.ntrust == 16) return EXIT_USAGE;
            trust[man.license.ntrust++] = optarg;
            break;
        case 'U': tmpl = optarg; break;
        case 'F': tmpl_files = optarg; break;
        case 'E': extract = 1; break;
        case 'P':
            if (tor.npeers >= 64) {
                errorf("at most 64 --peer addresses");
                return EXIT_USAGE;
            }
            peers[tor.npeers++] = optarg;
            break;
        case 'L': tor.net.listen = optarg; break;
        case 'u': tor.net.utp = 1; break;
        case 'D': tor.net.dht = 1; break;
        case 'W':
            if (parse_uint_opt("--stall-timeout", optarg, 86400 * 30, &v) || !v) return EXIT_USAGE;
            tor.stall_seconds = (unsigned)v;
            break;
        case 'J': g_opts.json = 1; break;
        case 'q': g_opts.verbosity = -1; break;
        case 'v': g_opts.verbosity++; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!tmpl != !tmpl_files) {
        errorf("--url-template and --files go together");
        return EXIT_USAGE;
    }
    int torrents = 0;
    for (int i = optind; i < argc; i++) torrents += is_torrent_source(argv[i]);
    if (torrents &&
        (torrents != argc - optind || torrents > 1 || (man.manifest && !man.sig.pubkey))) {
        errorf("a magnet or .torrent source is fetched alone (with --pubkey for --manifest)");
        return EXIT_USAGE;
    }
    if (man.manifest && !torrents ? optind != argc || !man.nmirrors || !man.sig.pubkey
                                  : optind >= argc && !tmpl) {
        if (man.manifest)
            errorf("--manifest needs --pubkey and at least one --mirror, and no URLs");
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    uint8_t sha[32];
    if (sha_hex) {
        if (ferry_unhex(sha_hex, sha, 32, 0)) {
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
        if (strncmp(argv[i], "http://", 7) && strncmp(argv[i], "https://", 8) &&
            strncmp(argv[i], "hf://", 5) && !is_torrent_source(argv[i])) {
            errorf("%s: not a source ferry fetches (http://, https://, hf://, magnet: or a "
                   ".torrent file)",
                   argv[i]);
            return EXIT_USAGE;
        }
    }
    char cache_dir[4096];
    if (!dir && hub.hf_cache) {
        ferry_fetch_hub_default_cache(cache_dir, sizeof(cache_dir));
        dir = cache_dir;
    }
    const char *user_dir = dir;
    if (!dir) dir = ".";
    const char *hub_dir = dir;
    char token[4096];
    if (token_file) {
        if (read_token(token_file, token, sizeof(token))) return EXIT_USAGE;
        o.bearer = token;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* who accepts a license on a terminal, when the manifest asks for it */
    struct passwd *pw = getpwuid(getuid());
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    man.who.os_user = pw ? pw->pw_name : NULL;
    man.who.host = host;
    if (!man.who.name) man.who.name = man.who.os_user;
    struct fetch_view view = {.who = &man.who, .lo = &man.license, .jobs = o.jobs};
    struct ferry_fetch_events ev = fetch_view_events(&view);
    if (torrents) { /* the library makes the folder once the torrent has been read */
        tor.manifest = man.manifest ? &man : NULL;
        ferry_fetch_torrent(argv[optind], user_dir, &tor, &o, &ev, &view.t);
        return fetch_view_finish(&view);
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 && ferry_mkdirs(dir, 0755) != 0) {
        errorf("%s: cannot create directory: %s", dir, strerror(errno));
        return EXIT_CANTCREAT;
    }
    ferry_fetch_global_init();
    if (man.manifest) ferry_fetch_manifest(dir, &man, &o, &ev, &view.t);
    if (tmpl) ferry_fetch_template(tmpl, tmpl_files, dir, &o, &ev, &view.t);
    /* hub repositories and archives in turn; plain URLs together, --jobs at a time */
    struct ferry_fetch_item *items = calloc((size_t)(argc - optind) + 1, sizeof(*items));
    char(*names)[1024] = calloc((size_t)(argc - optind) + 1, sizeof(*names));
    char(*labels)[5200] = calloc((size_t)(argc - optind) + 1, sizeof(*labels));
    size_t n = 0;
    if (!items || !names || !labels) {
        errorf("out of memory");
        free(items), free(names), free(labels);
        return EXIT_INTERNAL;
    }
    for (int i = optind; i < argc && !g_fetch_cancel; i++) {
        if (!strncmp(argv[i], "hf://", 5)) {
            ferry_fetch_hub(argv[i], hub_dir, &hub, &o, &ev, &view.t);
            continue;
        }
        if (extract) {
            ferry_fetch_extract(argv[i], dir, &man.sig, &o, &ev, &view.t);
            continue;
        }
        if (name_of(argv[i], names[n], sizeof(names[n]))) {
            errorf("cannot tell a file name from a URL without a path: give one URL per file");
            if (!view.t.code) view.t.code = FERRY_EUSAGE;
            continue;
        }
        snprintf(labels[n], sizeof(labels[n]), "%s/%s", dir, names[n]);
        items[n] = (struct ferry_fetch_item){argv[i], dir, names[n], labels[n]};
        n++;
    }
    if (n && !g_fetch_cancel) ferry_fetch_files(items, n, &o, &ev, &view.t);
    free(items), free(names), free(labels);
    return fetch_view_finish(&view);
}
