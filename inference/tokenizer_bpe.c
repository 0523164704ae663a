/* Byte-level BPE (Llama 3) is planned; encoding reports that it is not built yet. */
#include "tokenizer_impl.h"

int bpe_encode(const struct ferry_tokenizer *t, const char *text, size_t len, struct ids *out)
{
    (void)t, (void)text, (void)len, (void)out;
    return -2;
}
