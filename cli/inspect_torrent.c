/* See inspect_torrent.h. */
#include "inspect_torrent.h"
#include "output.h"
#include "ferry/codec.h"
#include "ferry/torrent.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int is_torrent_file(const char *path)
{
    size_t l = strlen(path);
    return l > 8 && !strcmp(path + l - 8, ".torrent");
}

static json_t *strings(char **s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_bytes(s[i], strlen(s[i])));
    return a;
}

int inspect_torrent(const char *path)
{
    struct ferry_torrent_info t;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_torrent_load(path, &t, &err)) return report_error(&err);
    const char *kind = t.v1 && t.v2 ? "hybrid (v1 + v2)" : t.v2 ? "v2" : "v1";
    char ih[41] = "", mh[65] = "", root[65];
    if (t.v1) ferry_hex(t.btih, 20, ih);
    if (t.v2) ferry_hex(t.btmh, 32, mh);
    uint64_t total = 0;
    size_t nfiles = 0;
    for (size_t i = 0; i < t.nfiles; i++)
        if (!t.files[i].pad) total += t.files[i].size, nfiles++;
    char *magnet = ferry_torrent_magnet(&t);
    if (g_opts.json) {
        json_t *files = json_array();
        for (size_t i = 0; i < t.nfiles; i++) {
            if (t.files[i].pad) continue;
            json_t *f = json_pack("{s:o, s:I}", "path",
                                  json_bytes(t.files[i].path, strlen(t.files[i].path)), "size",
                                  (json_int_t)t.files[i].size);
            if (t.files[i].has_root) {
                ferry_hex(t.files[i].root, 32, root);
                json_object_set_new(f, "pieces_root", json_string(root));
            }
            json_array_append_new(files, f);
        }
        json_t *j = json_pack(
            "{s:s, s:s, s:o, s:I, s:I, s:I, s:o, s:o, s:o}", "format", "torrent", "kind",
            t.v1 && t.v2 ? "hybrid"
            : t.v2       ? "v2"
                         : "v1",
            "name", json_bytes(t.name, strlen(t.name)), "piece_size", (json_int_t)t.piece_size,
            "pieces", (json_int_t)t.pieces, "bytes", (json_int_t)total, "files", files, "web_seeds",
            strings(t.web_seeds, t.nweb_seeds), "trackers", strings(t.trackers, t.ntrackers));
        if (t.v1) json_object_set_new(j, "btih", json_string(ih));
        if (t.v2) json_object_set_new(j, "btmh", json_string(mh));
        if (magnet) json_object_set_new(j, "magnet", json_string(magnet));
        out_json(j);
    } else {
        printf("%s: BitTorrent %s\n", path, kind);
        printf("  name        %s\n", t.name);
        if (t.v1) printf("  btih        %s\n", ih);
        if (t.v2) printf("  btmh        1220%s\n", mh);
        printf("  pieces      %" PRIu64 " of %" PRIu64 " KiB\n", t.pieces, t.piece_size >> 10);
        printf("  files       %zu, %" PRIu64 " bytes\n", nfiles, total);
        for (size_t i = 0; i < t.nfiles; i++) {
            if (t.files[i].pad) continue;
            if (t.files[i].has_root) ferry_hex(t.files[i].root, 32, root);
            printf("    %-40s %14" PRIu64 "  %s\n", t.files[i].path, t.files[i].size,
                   t.files[i].has_root ? root : "");
        }
        for (size_t i = 0; i < t.nweb_seeds; i++) printf("  web seed    %s\n", t.web_seeds[i]);
        for (size_t i = 0; i < t.ntrackers; i++) printf("  tracker     %s\n", t.trackers[i]);
        if (magnet) printf("  magnet      %s\n", magnet);
    }
    free(magnet);
    ferry_torrent_info_free(&t);
    return EXIT_OK;
}
