/* Writers against readers in process: every GGUF metadata type and several tensor types
 * through ferry_gguf_write/read, a safetensors file through its writer/reader, and the
 * no-overwrite rule of the durable output. Independent readers check the same files in
 * tests/interop; this test pins exact values and offsets. */
#include "check.h"
#include "ferry/gguf.h"
#include "ferry/safetensors.h"
#include "ferry/vocab.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ferry_kv *kv(struct ferry_ckpt *ck, const char *key, enum ferry_vtype t)
{
    struct ferry_kv *k = ferry_ckpt_add_kv(ck, key, strlen(key));
    k->val.type = t;
    return k;
}

static void add_tensor(struct ferry_ckpt *ck, const char *name, enum ferry_dtype dt, uint32_t nd,
                       const uint64_t *shape, uint8_t *buf)
{
    struct ferry_tensor *t = ferry_ckpt_add_tensor(ck, name, strlen(name));
    t->dtype = dt;
    t->ndim = nd;
    if (nd) memcpy(t->shape, shape, nd * sizeof(uint64_t));
    ferry_shape_nelem(t->shape, nd, &t->nelem);
    ferry_dtype_nbytes(dt, t->nelem, &t->nbytes);
    for (uint64_t i = 0; i < t->nbytes; i++) buf[i] = (uint8_t)(i * 7 + nd);
    t->data = buf;
}

static void gguf_roundtrip(const char *dir)
{
    struct ferry_ckpt w;
    struct ferry_error err;
    ferry_ckpt_init(&w);
    ferry_error_clear(&err);
    kv(&w, "general.architecture", FERRY_V_STRING);
    ferry_ckpt_kv_set_string(&w.kvs[0], "llama", 5);
    kv(&w, "a.u8", FERRY_V_U8)->val.v.u = 255;
    kv(&w, "a.i8", FERRY_V_I8)->val.v.i = -128;
    kv(&w, "a.u16", FERRY_V_U16)->val.v.u = 65535;
    kv(&w, "a.i16", FERRY_V_I16)->val.v.i = -32768;
    kv(&w, "a.u32", FERRY_V_U32)->val.v.u = 4294967295u;
    kv(&w, "a.i32", FERRY_V_I32)->val.v.i = INT32_MIN;
    kv(&w, "a.f32", FERRY_V_F32)->val.v.f = 0.1f;
    kv(&w, "a.bool", FERRY_V_BOOL)->val.v.u = 1;
    kv(&w, "a.u64", FERRY_V_U64)->val.v.u = UINT64_MAX;
    kv(&w, "a.i64", FERRY_V_I64)->val.v.i = INT64_MIN;
    kv(&w, "a.f64", FERRY_V_F64)->val.v.f = -2.5e300;
    struct ferry_kv *arr = kv(&w, "a.arr", FERRY_V_ARRAY);
    arr->val.elem_type = FERRY_V_I32;
    arr->val.count = 3;
    int32_t *vals = malloc(12);
    vals[0] = -1, vals[1] = 0, vals[2] = 1 << 30;
    arr->val.arr = vals;
    struct ferry_kv *al = kv(&w, "general.alignment", FERRY_V_U32);
    al->val.v.u = 64;
    static uint8_t b1[4096], b2[4096], b3[4096];
    add_tensor(&w, "q8", FERRY_DT_Q8_0, 2, (uint64_t[]){3, 64}, b1);
    add_tensor(&w, "f16", FERRY_DT_F16, 1, (uint64_t[]){5}, b2);
    add_tensor(&w, "k4", FERRY_DT_Q4_K, 3, (uint64_t[]){2, 1, 256}, b3);
    char path[512];
    snprintf(path, sizeof(path), "%s/rt.gguf", dir);
    CHECK(ferry_gguf_write(&w, path, 0, NULL, NULL, &err) == 0);
    /* no overwrite without force, and the refusal leaves the file alone */
    ferry_error_clear(&err);
    CHECK(ferry_gguf_write(&w, path, 0, NULL, NULL, &err) == FERRY_ECANTCREAT);
    ferry_error_clear(&err);

    struct ferry_ckpt r;
    ferry_ckpt_init(&r);
    CHECK(ferry_gguf_read(&r, path, &err) == 0);
    CHECK_EQ_U64(r.nkvs, w.nkvs);
    CHECK_EQ_U64(r.alignment, 64);
    for (uint64_t i = 0; i < r.nkvs && i < w.nkvs; i++) {
        CHECK(strcmp(r.kvs[i].key, w.kvs[i].key) == 0);
        CHECK(r.kvs[i].val.type == w.kvs[i].val.type);
        if (w.kvs[i].val.type == FERRY_V_F32)
            CHECK((float)r.kvs[i].val.v.f == (float)w.kvs[i].val.v.f);
        else if (w.kvs[i].val.type == FERRY_V_F64)
            CHECK(r.kvs[i].val.v.f == w.kvs[i].val.v.f);
        else if (w.kvs[i].val.type == FERRY_V_STRING)
            CHECK(strcmp(r.kvs[i].val.v.str.s, "llama") == 0);
        else if (w.kvs[i].val.type != FERRY_V_ARRAY)
            CHECK_EQ_U64(r.kvs[i].val.v.u, w.kvs[i].val.v.u);
    }
    const struct ferry_kv *ra = ferry_ckpt_find_kv(&r, "a.arr");
    CHECK(ra && ra->val.count == 3 && memcmp(ra->val.arr, vals, 12) == 0);
    CHECK_EQ_U64(r.ntensors, 3);
    uint64_t expect_off = r.data_offset;
    CHECK_EQ_U64(r.data_offset % 64, 0);
    for (uint64_t i = 0; i < r.ntensors && i < 3; i++) {
        CHECK(strcmp(r.tensors[i].name, w.tensors[i].name) == 0);
        CHECK(r.tensors[i].dtype == w.tensors[i].dtype);
        CHECK(memcmp(r.tensors[i].shape, w.tensors[i].shape,
                     sizeof(uint64_t) * w.tensors[i].ndim) == 0);
        CHECK_EQ_U64(r.tensors[i].offset, expect_off);
        CHECK(memcmp(r.tensors[i].data, w.tensors[i].data, (size_t)w.tensors[i].nbytes) == 0);
        expect_off += (w.tensors[i].nbytes + 63) / 64 * 64;
    }
    CHECK_EQ_U64(r.files[0].size, expect_off); /* padded after the last tensor too */
    ferry_ckpt_free(&r);
    /* a writer refuses a tensor whose row is not whole blocks */
    w.tensors[0].shape[1] = 33;
    snprintf(path, sizeof(path), "%s/bad.gguf", dir);
    CHECK(ferry_gguf_write(&w, path, 1, NULL, NULL, &err) == FERRY_EUSAGE);
    CHECK(access(path, F_OK) != 0);
    w.tensors[0].shape[1] = 64;
    ferry_ckpt_free(&w);
}

static void safetensors_roundtrip(const char *dir)
{
    struct ferry_ckpt w, r;
    struct ferry_error err;
    ferry_ckpt_init(&w);
    ferry_ckpt_init(&r);
    ferry_error_clear(&err);
    ferry_ckpt_kv_set_string(kv(&w, "format", FERRY_V_STRING), "pt", 2);
    static uint8_t b1[64], b2[64], b3[64];
    add_tensor(&w, "z.small", FERRY_DT_U8, 1, (uint64_t[]){3}, b1);
    add_tensor(&w, "a.wide", FERRY_DT_F64, 2, (uint64_t[]){2, 2}, b2);
    add_tensor(&w, "m.mid", FERRY_DT_BF16, 0, NULL, b3);
    char path[512];
    snprintf(path, sizeof(path), "%s/rt.safetensors", dir);
    CHECK(ferry_safetensors_write(&w, path, 0, NULL, NULL, &err) == 0);
    CHECK(ferry_safetensors_read(&r, path, &err) == 0);
    /* reference order: widest dtype first */
    CHECK(r.ntensors == 3 && strcmp(r.tensors[0].name, "a.wide") == 0 &&
          strcmp(r.tensors[1].name, "m.mid") == 0 && strcmp(r.tensors[2].name, "z.small") == 0);
    CHECK(r.ntensors == 3 && r.tensors[1].ndim == 0 && r.tensors[1].nbytes == 2);
    CHECK((r.tensors[0].offset - 8) % 8 == 0);
    const struct ferry_kv *f = ferry_ckpt_find_kv(&r, "format");
    CHECK(f && strcmp(f->val.v.str.s, "pt") == 0);
    for (uint64_t i = 0; i < r.ntensors; i++) {
        const struct ferry_tensor *src = ferry_ckpt_find_tensor(&w, r.tensors[i].name);
        CHECK(src && memcmp(src->data, r.tensors[i].data, (size_t)src->nbytes) == 0);
    }
    ferry_ckpt_free(&r);
    ferry_ckpt_free(&w);
}

/* A sentencepiece piece of any length keeps its place: ids are positions in the list. */
static void spm_long_piece(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    static char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    struct ferry_str tok[4] = {{(char *)"<unk>", 5},
                               {(char *)"<s>", 3},
                               {big, sizeof(big) - 1},
                               {(char *)"\xe2\x96\x81hi", 5}};
    float scores[4] = {0, 0, -1, -2};
    int32_t types[4] = {2, 3, 1, 1};
    struct ferry_error err;
    ferry_error_clear(&err);
    CHECK(ferry_vocab_write_spm(tok, scores, types, 4, path, 1, &err) == 0);
    struct ferry_vocab v;
    CHECK(ferry_vocab_from_spm(path, 0, &v, &err) == 0);
    CHECK(v.n == 4);
    if (v.n == 4) {
        CHECK(v.tokens[2].len == sizeof(big) - 1 &&
              memcmp(v.tokens[2].s, big, sizeof(big) - 1) == 0);
        CHECK(v.tokens[3].len == 5 && memcmp(v.tokens[3].s, "\xe2\x96\x81hi", 5) == 0);
        CHECK(v.scores[3] == -2.0f);
    }
    ferry_vocab_free(&v);
}

int main(void)
{
    char dir[] = "/tmp/ferry-unit-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    gguf_roundtrip(dir);
    safetensors_roundtrip(dir);
    spm_long_piece(dir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 2;
    return check_report("test_roundtrip");
}
