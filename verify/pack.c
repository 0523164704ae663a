/* ferry_pack_model (see ferry/archive.h): a model folder as one reproducible archive, its
 * signed manifest first so a reader meets the signature before the weights. */
#include "ferry/archive.h"
#include "ferry/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ferry_pack_model(const char *dir, const char *out, const struct ferry_pack_opts *o,
                     struct ferry_error *err)
{
    static const char *const first[] = {"model.manifest.json", "model.manifest.json.minisig",
                                        "model.sig"};
    struct ferry_manifest m;
    int rc = ferry_manifest_list_all(dir, &m, err);
    if (rc) return rc;
    const char **names = calloc(m.nres + 1, sizeof(char *));
    size_t n = 0;
    if (!names) {
        ferry_manifest_free(&m);
        return ferry_error_set(err, FERRY_EINTERNAL, dir, FERRY_NO_OFFSET, NULL, "oom");
    }
    for (size_t f = 0; f < sizeof(first) / sizeof(first[0]); f++)
        for (size_t i = 0; i < m.nres; i++)
            if (!strcmp(m.res[i].name, first[f])) names[n++] = m.res[i].name;
    for (size_t i = 0; i < m.nres; i++) {
        int is_first = 0;
        for (size_t f = 0; f < sizeof(first) / sizeof(first[0]); f++)
            is_first |= !strcmp(m.res[i].name, first[f]);
        if (!is_first) names[n++] = m.res[i].name;
    }
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) { /* one file: packed from its folder */
        char parent[4096];
        const char *slash = strrchr(dir, '/');
        snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - dir) : 1, slash ? dir : ".");
        rc = ferry_archive_pack(parent[0] ? parent : "/", names, n, out, o, err);
    } else
        rc = ferry_archive_pack(dir, names, n, out, o, err);
    free(names);
    ferry_manifest_free(&m);
    return rc;
}
