/* libFuzzer target for llama-perplexity's --kl-divergence-base files: the header check that
 * decides how far every later read may go must give a clean error or a context, never a
 * crash. Build with -DFERRY_FUZZ=ON (clang). */
#include "ferry/perplexity.h"
#include "fuzz_files.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/base.kld", fuzz_dir("kld"));
    fuzz_put("base.kld", data, size);
    struct ferry_error err;
    ferry_error_clear(&err);
    uint32_t ctx = 0;
    ferry_perplexity_base_ctx(path, &ctx, &err);
    return 0;
}
