/* See inspect_archive.h. */
#include "inspect_archive.h"
#include "output.h"
#include "ferry/archive.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int is_weights(const char *name)
{
    static const char *const ext[] = {".safetensors", ".gguf", ".bin", ".pth",
                                      ".pt",          ".npz",  ".npy"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t e = strlen(ext[i]);
        if (n > e && !strcmp(name + n - e, ext[i])) return 1;
    }
    return 0;
}

int inspect_archive(const char *path)
{
    struct ferry_archive a;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (ferry_archive_list(path, NULL, &a, &err)) return report_error(&err);
    size_t files = 0;
    for (size_t i = 0; i < a.n; i++) files += !a.m[i].dir;
    if (g_opts.json) {
        json_t *members = json_array();
        for (size_t i = 0; i < a.n; i++) {
            if (a.m[i].dir) continue;
            json_t *m =
                json_pack("{s:o, s:I, s:b}", "name", json_bytes(a.m[i].name, strlen(a.m[i].name)),
                          "size", (json_int_t)a.m[i].size, "in_place", a.m[i].in_place);
            if (a.m[i].in_place)
                json_object_set_new(m, "offset", json_integer((json_int_t)a.m[i].data_offset));
            json_array_append_new(members, m);
        }
        out_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "format", "archive", "archive_format",
                           a.format, "compression", a.filter, "bytes", (json_int_t)a.bytes,
                           "file_bytes", (json_int_t)a.file_bytes, "members", members));
    } else {
        printf("%s: %s, %s compression\n", path, a.format, a.filter);
        printf("  %zu files, %" PRIu64 " bytes (%" PRIu64 " in the archive)\n", files, a.bytes,
               a.file_bytes);
        for (size_t i = 0; i < a.n; i++)
            if (!a.m[i].dir)
                printf("    %-50s %14" PRIu64 "%s\n", a.m[i].name, a.m[i].size,
                       a.m[i].in_place && is_weights(a.m[i].name) ? "  (readable in place)" : "");
        for (size_t i = 0; i < a.n; i++)
            if (!a.m[i].dir && is_weights(a.m[i].name)) {
                if (a.m[i].in_place)
                    printf("inspect a checkpoint inside: ferry inspect '%s//%s'\n", path,
                           a.m[i].name);
                else
                    printf("checkpoints inside a compressed archive are read after unpacking it\n");
                break;
            }
    }
    ferry_archive_free(&a);
    return EXIT_OK;
}
