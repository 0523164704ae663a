/* libFuzzer target for importance matrix files (GGUF imatrix and legacy .dat, told apart by
 * the magic as ferry_imatrix_load does): reading, filtering and a lookup must give a clean
 * error or a matrix, never a crash. Build with -DFERRY_FUZZ=ON (clang). */
#include "ferry/imatrix.h"
#include "fuzz_files.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/imatrix", fuzz_dir("imatrix"));
    fuzz_put("imatrix", data, size);
    struct ferry_imatrix *m = NULL;
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!ferry_imatrix_load(path, &m, &err)) {
        static const char *const inc[] = {"ffn"}, *const exc[] = {"attn_k"};
        ferry_imatrix_find(m, "blk.0.ffn_down.weight");
        ferry_imatrix_filter(m, inc, 1, exc, 1);
        ferry_imatrix_find(m, "blk.0.ffn_down.weight");
        ferry_imatrix_free(m);
    }
    return 0;
}
