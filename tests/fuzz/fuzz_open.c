/* libFuzzer target: any bytes handed to the format readers must give a clean error or a
 * checkpoint whose every tensor can be read and hashed, never a crash. The input is offered
 * as an in-memory file, once per reader; built with -DFUZZ_ONLY=K it is one reader's target
 * (fuzz_gguf, fuzz_safetensors, fuzz_pytorch, fuzz_llama2c, fuzz_npy: the order below).
 * Build with -DFERRY_FUZZ=ON (clang). */
#define _GNU_SOURCE
#include "ferry/gguf.h"
#include "ferry/hash.h"
#include "ferry/llama2c.h"
#include "ferry/npy.h"
#include "ferry/pytorch.h"
#include "ferry/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*reader)(struct ferry_ckpt *, const char *, struct ferry_error *);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const reader readers[] = {ferry_gguf_read, ferry_safetensors_read, ferry_pytorch_read,
                                     ferry_llama2c_read, ferry_npy_read};
    int fd = memfd_create("fuzz", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
#ifdef FUZZ_ONLY
    for (size_t r = FUZZ_ONLY; r == FUZZ_ONLY; r++) {
#else
    for (size_t r = 0; r < sizeof(readers) / sizeof(readers[0]); r++) {
#endif
        struct ferry_ckpt ck;
        struct ferry_error err;
        ferry_ckpt_init(&ck);
        ferry_error_clear(&err);
        if (readers[r](&ck, path, &err) == 0 && ck.ntensors < 4096) {
            uint8_t(*h)[32] = calloc(ck.ntensors + 1, 32);
            ferry_hash_tensors(&ck, 1, h, &err);
            free(h);
        }
        ferry_ckpt_free(&ck);
    }
    close(fd);
    return 0;
}
