/* list_tensors: the tensors of any checkpoint ferry reads (GGUF, safetensors, PyTorch, a model
 * folder, a member of a plain .tar), with the public API only.
 * build: cc list_tensors.c $(pkg-config --cflags --libs ferry) */
#include <ferry/ferry.h>

#include <inttypes.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: list_tensors CHECKPOINT (libferry %s)\n", ferry_version());
        return 64;
    }
    struct ferry_ckpt ck;
    struct ferry_error err;
    ferry_ckpt_init(&ck);
    ferry_error_clear(&err);
    if (ferry_ckpt_open(&ck, argv[1], &err)) {
        char msg[2048];
        fprintf(stderr, "list_tensors: %s\n", ferry_error_format(&err, msg, sizeof(msg)));
        return -err.code;
    }
    printf("%s: %s, %" PRIu64 " tensors\n", argv[1], ck.format, ck.ntensors);
    for (uint64_t i = 0; i < ck.ntensors; i++) {
        const struct ferry_tensor *t = &ck.tensors[i];
        printf("  %-40s %-8s [", t->name, ferry_dtype_name(t->dtype));
        for (uint32_t d = 0; d < t->ndim; d++) printf("%s%" PRIu64, d ? ", " : "", t->shape[d]);
        printf("]\n");
    }
    ferry_ckpt_free(&ck);
    return 0;
}
