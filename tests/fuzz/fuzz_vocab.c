/* libFuzzer target: any bytes read as a vocabulary (a tiktoken or sentencepiece tokenizer.model,
 * a tokenizer.json, a llama2.c tokenizer.bin) give a clean error or a vocabulary a tokenizer can
 * be built from and used, never a crash. Built with -DFUZZ_ONLY=K it is one reader's target
 * (fuzz_tiktoken, fuzz_spm, fuzz_tokenizer_json, fuzz_llama2c_vocab: the order below).
 * Build with -DFERRY_FUZZ=ON (clang). */
#define _GNU_SOURCE
#include "ferry/tokenizer.h"
#include "ferry/vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*vocab_reader)(const char *, uint64_t, struct ferry_vocab *, struct ferry_error *);

static int llama2c(const char *path, uint64_t n, struct ferry_vocab *v, struct ferry_error *err)
{
    (void)n;
    return ferry_vocab_from_llama2c(path, v, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const vocab_reader readers[] = {ferry_vocab_from_tiktoken, ferry_vocab_from_spm,
                                           ferry_vocab_from_tokenizer_json, llama2c};
    int fd = memfd_create("fuzz", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
#ifdef FUZZ_ONLY
    for (size_t r = FUZZ_ONLY; r == FUZZ_ONLY; r++) {
#else
    for (size_t r = 0; r < sizeof(readers) / sizeof(readers[0]); r++) {
#endif
        struct ferry_vocab v;
        struct ferry_error err;
        ferry_error_clear(&err);
        if (readers[r](path, 0, &v, &err)) continue;
        struct ferry_tokenizer *t;
        if (ferry_tokenizer_new(&v, &t, &err) == 0) {
            int32_t *ids;
            size_t n;
            static const char text[] = "Hello <s> w\xc3\xb6rld\n\x01";
            if (ferry_tokenize_ex(t, text, sizeof(text) - 1, 1, 1, &ids, &n, &err) == 0) {
                char buf[64];
                for (size_t i = 0; i < n; i++)
                    ferry_token_text(t, i ? ids[i - 1] : -1, ids[i], buf, sizeof(buf));
                free(ids);
            }
            ferry_tokenizer_free(t);
        }
        ferry_vocab_free(&v);
    }
    close(fd);
    return 0;
}
