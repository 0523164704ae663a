/* libFuzzer target for a model folder's hyperparameters: the first byte picks config.json
 * (Hugging Face, beside a small valid model.safetensors so a config that parses goes on to the
 * tensor plan) or params.json (Meta), the rest is that file. Opening the folder for conversion
 * must give a clean error or a model, never a crash. Build with -DFERRY_FUZZ=ON (clang). */
#define _GNU_SOURCE
#include "ferry/llama.h"
#include "fuzz_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the embedding of a 4-token, 8-wide model: enough for a config that names it to plan */
static void safetensors(void)
{
    static const char header[] =
        "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,"
        "128]}}";
    uint8_t buf[8 + sizeof(header) + 128] = {0};
    uint64_t n = sizeof(header) - 1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, header, n);
    fuzz_put("model.safetensors", buf, 8 + n + 128);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_dir("config");
    if (size < 1) return 0;
    int meta = data[0] & 1;
    fuzz_drop("config.json"), fuzz_drop("params.json"), fuzz_drop("model.safetensors");
    if (meta) {
        fuzz_put("params.json", data + 1, size - 1);
    } else {
        fuzz_put("config.json", data + 1, size - 1);
        safetensors();
    }
    struct ferry_llama m;
    struct ferry_error err;
    ferry_error_clear(&err);
    ferry_llama_open(&m, dir, &err);
    ferry_llama_close(&m); /* also after a failure, as the converter does */
    return 0;
}
