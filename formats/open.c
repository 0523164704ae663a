/* Opens any supported checkpoint: detects the format of a file from its first bytes (and
 * its name where the format has no magic), and the layout of a model directory. */
#include "ferry/ckpt.h"
#include "ferry/gguf.h"
#include "ferry/llama2c.h"
#include "ferry/npy.h"
#include "ferry/pytorch.h"
#include "ferry/safetensors.h"
#include "cursor.h"

#include "ferry/archive.h"
#include "ferry/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int open_file(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    if (ends_with(path, ".index.json"))
        return ends_with(path, "safetensors.index.json")
                   ? ferry_safetensors_read_index(ck, path, err)
                   : ferry_pytorch_read_index(ck, path, err);
    uint8_t head[16] = {0};
    struct ferry_map map; /* a file, or a member of a plain .tar mapped in place */
    int rc = ferry_map_open(&map, path, err);
    if (rc) return rc;
    ssize_t got = (ssize_t)(map.size < sizeof(head) ? map.size : sizeof(head));
    if (got) memcpy(head, map.data, (size_t)got);
    uint64_t size = map.size;
    ferry_map_close(&map);
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0) return ferry_gguf_read(ck, path, err);
    if (got >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
        return ends_with(path, ".npz") ? ferry_npz_read(ck, path, err)
                                       : ferry_pytorch_read(ck, path, err);
    if (got >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return ferry_npy_read(ck, path, err);
    /* safetensors before pickle: a header length of 0x80 + 256k (k <= 5) begins 80 0k, the
     * bytes of a pickle PROTO opcode (one safetensors file in 256 was misread so); a header
     * that fits the file and opens with JSON is the sharper test */
    if (got >= 9 && rd_u64le(head) <= 100000000ull && rd_u64le(head) <= size - 8 &&
        (head[8] == '{' || head[8] == ' ' || head[8] == '\n' || head[8] == '\t' || head[8] == '\r'))
        return ferry_safetensors_read(ck, path, err);
    if (got >= 2 && head[0] == 0x80 && head[1] <= 5) return ferry_pytorch_read(ck, path, err);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strcmp(base, "tokenizer.bin") == 0) return ferry_llama2c_tokenizer_read(ck, path, err);
    if (ends_with(path, ".safetensors")) return ferry_safetensors_read(ck, path, err);
    if (ends_with(path, ".gguf")) return ferry_gguf_read(ck, path, err);
    if (ends_with(path, ".npy")) return ferry_npy_read(ck, path, err);
    if (ends_with(path, ".bin") && got >= 16) return ferry_llama2c_read(ck, path, err);
    return ferry_error_set(
        err, FERRY_EMALFORMED, path, 0, NULL,
        "unrecognized format (not GGUF, safetensors, PyTorch, llama2.c or .npy)");
}

static int exists(const char *dir, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", dir, name);
    return ferry_path_kind(out) == 0; /* archive paths too */
}

static int open_path(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    char root[3800];
    int kind = ferry_path_kind(path);            /* ARCHIVE//PATH too */
    if (kind == 0 && ferry_archive_name(path)) { /* an archive is read as the folder it holds */
        ferry_archive_root(path, root, sizeof(root));
        path = root, kind = 1;
    }
    if (kind < 0) {
        struct stat st;
        if (stat(path, &st) != 0 && !strstr(path, "//"))
            return ferry_error_set(err, ferry_errno_code(errno), path, FERRY_NO_OFFSET, NULL, "%s",
                                   strerror(errno));
        return open_file(ck, path, err); /* the error names what is wrong */
    }
    if (kind == 0) return open_file(ck, path, err);
    static const char *candidates[] = {
        "model.safetensors.index.json", "model.safetensors",
        "pytorch_model.bin.index.json", "pytorch_model.bin",
        "consolidated.00.pth",          "model.gguf",
    };
    char p[4096];
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (exists(path, candidates[i], p, sizeof(p))) {
            if (i == 4 && exists(path, "consolidated.01.pth", p, sizeof(p)))
                return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                                       "Meta checkpoint with several consolidated.NN.pth shards: "
                                       "inspect one shard at a time");
            snprintf(p, sizeof(p), "%s/%s", path, candidates[i]);
            return open_file(ck, p, err);
        }
    return ferry_error_set(err, FERRY_ENOINPUT, path, FERRY_NO_OFFSET, NULL,
                           "no checkpoint found (looked for model.safetensors[.index.json], "
                           "pytorch_model.bin[.index.json], consolidated.00.pth, model.gguf)");
}

/* A refused checkpoint leaves nothing behind: the files and tensors of the shards read before
 * the one that failed are released here. */
int ferry_ckpt_open(struct ferry_ckpt *ck, const char *path, struct ferry_error *err)
{
    int rc = open_path(ck, path, err);
    if (rc) {
        ferry_ckpt_free(ck);
        ferry_ckpt_init(ck);
    }
    return rc;
}
