/* Allow-list pickle interpreter (see pickle.h). Opcodes are those torch's weights_only
 * unpickler accepts, plus the harmless framing/memo opcodes of protocols 3-4. */
#include "pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STACK (1u << 20)
#define MAX_MEMO  (1u << 24)
#define MAX_DEPTH 64

enum g_id {
    G_ODICT,
    G_REBUILD_V2,
    G_REBUILD,
    G_REBUILD_V3,
    G_REBUILD_PARAM,
    G_REBUILD_PARAM_STATE,
    G_PARAMETER,
    G_SIZE,
    G_DEVICE,
    G_CODECS_ENCODE,
    G_FROM_TYPE_V2,
    G_TENSOR,
    G_GET_LAYOUT,
    G_SET,
    G_BYTEARRAY,
    G_COUNT
};

static const struct {
    const char *module, *name;
} allowed[G_COUNT] = {
    [G_ODICT] = {"collections", "OrderedDict"},
    [G_REBUILD_V2] = {"torch._utils", "_rebuild_tensor_v2"},
    [G_REBUILD] = {"torch._utils", "_rebuild_tensor"},
    [G_REBUILD_V3] = {"torch._utils", "_rebuild_tensor_v3"},
    [G_REBUILD_PARAM] = {"torch._utils", "_rebuild_parameter"},
    [G_REBUILD_PARAM_STATE] = {"torch._utils", "_rebuild_parameter_with_state"},
    [G_PARAMETER] = {"torch.nn.parameter", "Parameter"},
    [G_SIZE] = {"torch", "Size"},
    [G_DEVICE] = {"torch", "device"},
    [G_CODECS_ENCODE] = {"_codecs", "encode"},
    [G_FROM_TYPE_V2] = {"torch._tensor", "_rebuild_from_type_v2"},
    [G_TENSOR] = {"torch", "Tensor"},
    [G_GET_LAYOUT] = {"torch.serialization", "_get_layout"},
    [G_SET] = {"builtins", "set"},
    [G_BYTEARRAY] = {"builtins", "bytearray"},
};

/* torch.<name> dtypes (for _rebuild_tensor_v3) */
static const struct {
    const char *name;
    enum ferry_dtype dt;
} torch_dtypes[] = {
    {"float32", FERRY_DT_F32},
    {"float", FERRY_DT_F32},
    {"float16", FERRY_DT_F16},
    {"half", FERRY_DT_F16},
    {"bfloat16", FERRY_DT_BF16},
    {"float64", FERRY_DT_F64},
    {"double", FERRY_DT_F64},
    {"int64", FERRY_DT_I64},
    {"long", FERRY_DT_I64},
    {"int32", FERRY_DT_I32},
    {"int", FERRY_DT_I32},
    {"int16", FERRY_DT_I16},
    {"short", FERRY_DT_I16},
    {"int8", FERRY_DT_I8},
    {"uint8", FERRY_DT_U8},
    {"bool", FERRY_DT_BOOL},
    {"complex64", FERRY_DT_C64},
    {"cfloat", FERRY_DT_C64},
    {"uint16", FERRY_DT_U16},
    {"uint32", FERRY_DT_U32},
    {"uint64", FERRY_DT_U64},
    {"float8_e4m3fn", FERRY_DT_F8_E4M3},
    {"float8_e5m2", FERRY_DT_F8_E5M2},
    {"float8_e4m3fnuz", FERRY_DT_F8_E4M3FNUZ},
    {"float8_e5m2fnuz", FERRY_DT_F8_E5M2FNUZ},
    {"float8_e8m0fnu", FERRY_DT_F8_E8M0},
};

#define ERR(pk, at, ...)                                                                           \
    ferry_error_set((pk)->cur.err, FERRY_EMALFORMED, (pk)->cur.path, at, NULL, __VA_ARGS__)

void pk_init(struct pickle *pk, const uint8_t *base, uint64_t start, uint64_t end, const char *path,
             struct ferry_error *err)
{
    memset(pk, 0, sizeof(*pk));
    pk->cur.p = base;
    pk->cur.pos = start;
    pk->cur.size = end;
    pk->cur.path = path;
    pk->cur.err = err;
}

static void obj_free(struct pk_obj *o)
{
    switch (o->kind) {
    case PK_STR:
    case PK_BYTES:
    case PK_BIGINT: free(o->u.str.s); break;
    case PK_TUPLE:
    case PK_LIST:
    case PK_DICT:
    case PK_SET: free(o->u.seq.items); break;
    case PK_STORAGE: free(o->u.storage.key); break;
    default: break;
    }
    free(o);
}

void pk_free(struct pickle *pk)
{
    struct pk_obj *o = pk->arena;
    while (o) {
        struct pk_obj *n = o->next_alloc;
        obj_free(o);
        o = n;
    }
    free(pk->stack);
    free(pk->marks);
    free(pk->memo);
    memset(pk, 0, sizeof(*pk));
}

struct pk_obj *pk_new(struct pickle *pk, enum pk_kind kind)
{
    struct pk_obj *o = calloc(1, sizeof(*o));
    if (!o) return NULL;
    o->kind = kind;
    pk->nobjs++;
    o->next_alloc = pk->arena;
    pk->arena = o;
    return o;
}

static int oom(struct pickle *pk)
{
    return ferry_error_set(pk->cur.err, FERRY_EINTERNAL, pk->cur.path, pk->cur.pos, NULL,
                           "out of memory");
}

static int push(struct pickle *pk, struct pk_obj *o)
{
    if (!o) return oom(pk);
    if (pk->sp == pk->stack_cap) {
        if (pk->stack_cap >= MAX_STACK) return ERR(pk, pk->cur.pos, "pickle stack too deep");
        size_t cap = pk->stack_cap ? pk->stack_cap * 2 : 64;
        void *p = realloc(pk->stack, cap * sizeof(*pk->stack));
        if (!p) return oom(pk);
        pk->stack = p;
        pk->stack_cap = cap;
    }
    pk->stack[pk->sp++] = o;
    return 0;
}

static struct pk_obj *pop(struct pickle *pk)
{
    size_t floor = pk->nmarks ? pk->marks[pk->nmarks - 1] : 0;
    if (pk->sp <= floor) return NULL;
    return pk->stack[--pk->sp];
}

static struct pk_obj *top(struct pickle *pk)
{
    size_t floor = pk->nmarks ? pk->marks[pk->nmarks - 1] : 0;
    return pk->sp > floor ? pk->stack[pk->sp - 1] : NULL;
}

static int seq_add(struct pickle *pk, struct pk_obj *s, struct pk_obj *item)
{
    if (s->u.seq.n == s->u.seq.cap) {
        size_t cap = s->u.seq.cap ? s->u.seq.cap * 2 : 4;
        void *p = realloc(s->u.seq.items, cap * sizeof(*s->u.seq.items));
        if (!p) return oom(pk);
        s->u.seq.items = p;
        s->u.seq.cap = cap;
    }
    s->u.seq.items[s->u.seq.n++] = item;
    return 0;
}

/* Pops everything above the last MARK into a new sequence of the given kind. */
static int pop_mark(struct pickle *pk, enum pk_kind kind, struct pk_obj **out)
{
    if (!pk->nmarks) return ERR(pk, pk->cur.pos - 1, "opcode needs a MARK");
    size_t m = pk->marks[--pk->nmarks];
    struct pk_obj *s = pk_new(pk, kind);
    if (!s) return oom(pk);
    for (size_t i = m; i < pk->sp; i++)
        if (seq_add(pk, s, pk->stack[i])) return oom(pk);
    pk->sp = m;
    *out = s;
    return 0;
}

static int new_int(struct pickle *pk, int64_t v)
{
    struct pk_obj *o = pk_new(pk, PK_INT);
    if (o) o->u.i = v;
    return push(pk, o);
}

static int new_str(struct pickle *pk, enum pk_kind kind, uint64_t len)
{
    int rc = cur_need(&pk->cur, len, "string");
    if (rc) return rc;
    struct pk_obj *o = pk_new(pk, kind);
    if (!o) return oom(pk);
    o->u.str.s = malloc((size_t)len + 1);
    if (!o->u.str.s) return oom(pk);
    memcpy(o->u.str.s, pk->cur.p + pk->cur.pos, (size_t)len);
    o->u.str.s[len] = 0;
    o->u.str.len = (size_t)len;
    pk->cur.pos += len;
    return push(pk, o);
}

static int resolve_global(struct pickle *pk, const char *mod, const char *name, uint64_t at)
{
    if (strcmp(mod, "__builtin__") == 0) mod = "builtins";
    for (int i = 0; i < G_COUNT; i++)
        if (strcmp(allowed[i].module, mod) == 0 && strcmp(allowed[i].name, name) == 0) {
            struct pk_obj *o = pk_new(pk, PK_GLOBAL);
            if (o) o->u.global = i;
            return push(pk, o);
        }
    /* torch.save since 2.3: storages of dtypes without a legacy class are untyped (bytes), the
     * tensor's dtype comes from _rebuild_tensor_v3; torch's persistent_load reads them as uint8 */
    if (strcmp(mod, "torch.storage") == 0 && strcmp(name, "UntypedStorage") == 0) {
        struct pk_obj *o = pk_new(pk, PK_DTYPE);
        if (o) o->u.dtype = FERRY_DT_U8;
        return push(pk, o);
    }
    if (strcmp(mod, "torch") == 0) {
        enum ferry_dtype dt = ferry_dtype_from_torch_storage(name);
        if (dt == FERRY_DT_INVALID && strcmp(name, "UntypedStorage") == 0) dt = FERRY_DT_U8;
        for (size_t i = 0;
             dt == FERRY_DT_INVALID && i < sizeof(torch_dtypes) / sizeof(*torch_dtypes); i++)
            if (strcmp(torch_dtypes[i].name, name) == 0) dt = torch_dtypes[i].dt;
        if (dt != FERRY_DT_INVALID) {
            struct pk_obj *o = pk_new(pk, PK_DTYPE);
            if (o) o->u.dtype = dt;
            return push(pk, o);
        }
    }
    return ferry_error_set(pk->cur.err, FERRY_EMALFORMED, pk->cur.path, at, NULL,
                           "refusing global '%s.%s': not on the allow-list of tensor types "
                           "(loading it could run code)",
                           mod, name);
}

/* GLOBAL: "module\nname\n" */
static int op_global(struct pickle *pk, uint64_t at)
{
    char parts[2][256];
    for (int k = 0; k < 2; k++) {
        const uint8_t *p = pk->cur.p + pk->cur.pos;
        uint64_t left = pk->cur.size - pk->cur.pos;
        const uint8_t *nl = memchr(p, '\n', left < 256 ? (size_t)left : 256);
        if (!nl) return ERR(pk, at, "GLOBAL name too long or unterminated");
        size_t len = (size_t)(nl - p);
        memcpy(parts[k], p, len);
        parts[k][len] = 0;
        pk->cur.pos += len + 1;
    }
    return resolve_global(pk, parts[0], parts[1], at);
}

static int as_u64(struct pk_obj *o, uint64_t *v)
{
    if (!o || o->kind != PK_INT || o->u.i < 0) return -1;
    *v = (uint64_t)o->u.i;
    return 0;
}

static int is_seq(struct pk_obj *o)
{
    return o && (o->kind == PK_TUPLE || o->kind == PK_LIST);
}

/* _rebuild_tensor(_v2/_v3)(storage, offset, size, stride, ...) */
static int rebuild_tensor(struct pickle *pk, struct pk_obj *args, int v3, struct pk_obj **out,
                          uint64_t at)
{
    struct pk_obj **a = args->u.seq.items;
    size_t n = args->u.seq.n;
    if (n < 4 || !a[0] || a[0]->kind != PK_STORAGE || !is_seq(a[2]) || !is_seq(a[3]))
        return ERR(pk, at, "malformed _rebuild_tensor arguments");
    struct pk_obj *t = pk_new(pk, PK_TENSOR);
    if (!t) return oom(pk);
    struct pk_tensor *tt = &t->u.tensor;
    tt->storage = a[0];
    tt->dtype = a[0]->u.storage.dtype;
    if (v3) {
        if (n < 7 || !a[6] || a[6]->kind != PK_DTYPE)
            return ERR(pk, at, "malformed _rebuild_tensor_v3 arguments");
        tt->dtype = a[6]->u.dtype;
    }
    if (as_u64(a[1], &tt->offset)) return ERR(pk, at, "bad storage offset");
    if (a[2]->u.seq.n != a[3]->u.seq.n || a[2]->u.seq.n > FERRY_MAX_DIMS)
        return ERR(pk, at, "size and stride disagree or have more than %d dims", FERRY_MAX_DIMS);
    tt->ndim = (uint32_t)a[2]->u.seq.n;
    for (uint32_t d = 0; d < tt->ndim; d++) {
        uint64_t st;
        if (as_u64(a[2]->u.seq.items[d], &tt->shape[d]) || as_u64(a[3]->u.seq.items[d], &st) ||
            st > INT64_MAX)
            return ERR(pk, at, "bad size or stride entry");
        tt->stride[d] = (int64_t)st;
    }
    *out = t;
    return 0;
}

static int op_reduce(struct pickle *pk, uint64_t at, int newobj)
{
    struct pk_obj *args = pop(pk), *fn = pop(pk), *res = NULL;
    if (!args || !fn) return ERR(pk, at, "stack underflow");
    if (args->kind != PK_TUPLE) return ERR(pk, at, "REDUCE arguments are not a tuple");
    if (fn->kind != PK_GLOBAL) return ERR(pk, at, "REDUCE on a non-callable");
    struct pk_obj **a = args->u.seq.items;
    size_t n = args->u.seq.n;
    int rc = 0;
    switch (fn->u.global) {
    case G_ODICT: res = pk_new(pk, PK_DICT); break;
    case G_SET: res = pk_new(pk, PK_SET); break;
    case G_REBUILD:
    case G_REBUILD_V2: rc = rebuild_tensor(pk, args, 0, &res, at); break;
    case G_REBUILD_V3: rc = rebuild_tensor(pk, args, 1, &res, at); break;
    case G_REBUILD_PARAM:
    case G_REBUILD_PARAM_STATE:
    case G_PARAMETER:
        if (n < 1 || !a[0] || a[0]->kind != PK_TENSOR)
            return ERR(pk, at, "Parameter without a tensor");
        res = a[0];
        break;
    case G_SIZE:
        if (n != 1 || !is_seq(a[0])) return ERR(pk, at, "torch.Size needs one tuple");
        res = a[0];
        break;
    case G_FROM_TYPE_V2:
        /* (func, type, args, state): rebuild with func(*args), keep the plain tensor. Nested
         * ones (func is _rebuild_from_type_v2 again) unwrap in this loop, not by recursion: a
         * small file can nest them tens of thousands deep. */
        while (fn->u.global == G_FROM_TYPE_V2) {
            if (n != 4 || !a[0] || a[0]->kind != PK_GLOBAL || !a[2] || a[2]->kind != PK_TUPLE)
                return ERR(pk, at, "malformed _rebuild_from_type_v2");
            fn = a[0];
            args = a[2];
            a = args->u.seq.items;
            n = args->u.seq.n;
        }
        if ((rc = push(pk, fn)) || (rc = push(pk, args))) return rc;
        return op_reduce(pk, at, 0);
    case G_CODECS_ENCODE:
        if (n < 1 || !a[0] || a[0]->kind != PK_STR) return ERR(pk, at, "malformed _codecs.encode");
        res = pk_new(pk, PK_BYTES);
        if (res) {
            /* latin1: code points < 256 from UTF-8 */
            res->u.str.s = malloc(a[0]->u.str.len + 1);
            if (!res->u.str.s) return oom(pk);
            size_t k = 0;
            const unsigned char *s = (const unsigned char *)a[0]->u.str.s;
            for (size_t i = 0; i < a[0]->u.str.len; i++) {
                if (s[i] >= 0xc0 && i + 1 < a[0]->u.str.len) {
                    res->u.str.s[k++] = (char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
                    i++;
                } else
                    res->u.str.s[k++] = (char)s[i];
            }
            res->u.str.len = k;
        }
        break;
    case G_DEVICE:
    case G_TENSOR:
    case G_GET_LAYOUT:
    case G_BYTEARRAY: res = pk_new(pk, PK_OPAQUE); break;
    default: return ERR(pk, at, "this allowed global cannot be called");
    }
    (void)newobj;
    if (rc) return rc;
    return push(pk, res);
}

static int memo_put(struct pickle *pk, uint64_t idx, uint64_t at)
{
    struct pk_obj *o = top(pk);
    if (!o) return ERR(pk, at, "memo store with empty stack");
    if (idx >= MAX_MEMO) return ERR(pk, at, "memo index %llu too large", (unsigned long long)idx);
    if (idx >= pk->memo_cap) {
        size_t cap = pk->memo_cap ? pk->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        void *p = realloc(pk->memo, cap * sizeof(*pk->memo));
        if (!p) return oom(pk);
        memset((struct pk_obj **)p + pk->memo_cap, 0, (cap - pk->memo_cap) * sizeof(*pk->memo));
        pk->memo = p;
        pk->memo_cap = cap;
    }
    if (!pk->memo[idx]) pk->memo_n++;
    pk->memo[idx] = o;
    return 0;
}

static int memo_get(struct pickle *pk, uint64_t idx, uint64_t at)
{
    if (idx >= pk->memo_cap || !pk->memo[idx])
        return ERR(pk, at, "memo index %llu was never stored", (unsigned long long)idx);
    return push(pk, pk->memo[idx]);
}

static int op_setitems(struct pickle *pk, uint64_t at, int many)
{
    struct pk_obj *items = NULL;
    int rc = 0;
    if (many) {
        if ((rc = pop_mark(pk, PK_LIST, &items))) return rc;
    } else {
        struct pk_obj *v = pop(pk), *k = pop(pk);
        if (!v || !k) return ERR(pk, at, "stack underflow");
        items = pk_new(pk, PK_LIST);
        if (!items || seq_add(pk, items, k) || seq_add(pk, items, v)) return oom(pk);
    }
    struct pk_obj *d = top(pk);
    if (!d || d->kind != PK_DICT) return ERR(pk, at, "SETITEM on something that is not a dict");
    if (items->u.seq.n % 2) return ERR(pk, at, "SETITEMS with an odd number of items");
    for (size_t i = 0; i < items->u.seq.n && !rc; i++) rc = seq_add(pk, d, items->u.seq.items[i]);
    return rc;
}

static int op_appends(struct pickle *pk, uint64_t at, int many)
{
    struct pk_obj *items = NULL;
    int rc = 0;
    if (many) {
        if ((rc = pop_mark(pk, PK_LIST, &items))) return rc;
    } else {
        struct pk_obj *v = pop(pk);
        if (!v) return ERR(pk, at, "stack underflow");
        items = pk_new(pk, PK_LIST);
        if (!items || seq_add(pk, items, v)) return oom(pk);
    }
    struct pk_obj *l = top(pk);
    if (!l || (l->kind != PK_LIST && l->kind != PK_SET))
        return ERR(pk, at, "APPEND on something that is not a list");
    for (size_t i = 0; i < items->u.seq.n && !rc; i++) rc = seq_add(pk, l, items->u.seq.items[i]);
    return rc;
}

static int op_tuple(struct pickle *pk, uint64_t at, size_t n)
{
    struct pk_obj *t = pk_new(pk, PK_TUPLE), *it[3];
    if (!t) return oom(pk);
    for (size_t i = 0; i < n; i++)
        if (!(it[n - 1 - i] = pop(pk))) return ERR(pk, at, "stack underflow");
    for (size_t i = 0; i < n; i++)
        if (seq_add(pk, t, it[i])) return oom(pk);
    return push(pk, t);
}

static int op_persid(struct pickle *pk, uint64_t at)
{
    struct pk_obj *pid = pop(pk), *res = NULL;
    if (!pid || pid->kind != PK_TUPLE || pid->u.seq.n < 1 || !pid->u.seq.items[0] ||
        pid->u.seq.items[0]->kind != PK_STR || strcmp(pid->u.seq.items[0]->u.str.s, "storage"))
        return ERR(pk, at, "persistent id is not a ('storage', ...) tuple");
    if (!pk->load) return ERR(pk, at, "unexpected persistent id");
    int rc = pk->load(pk, pk->load_ctx, pid, &res);
    return rc ? rc : push(pk, res);
}

int pk_run(struct pickle *pk, struct pk_obj **result)
{
    struct cursor *c = &pk->cur;
    int rc = 0;
    for (;;) {
        uint64_t at = c->pos;
        uint8_t op, b1;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        if ((rc = cur_u8(c, &op, "pickle opcode"))) return rc;
        switch (op) {
        case 0x80: /* PROTO */
            if ((rc = cur_u8(c, &b1, "protocol"))) return rc;
            if (b1 > 5) return ERR(pk, at, "unsupported pickle protocol %u", b1);
            break;
        case 0x95: /* FRAME: just a length hint */
            if ((rc = cur_u64(c, &u64, "frame"))) return rc;
            break;
        case '.': { /* STOP */
            struct pk_obj *r = pop(pk);
            if (!r || pk->nmarks) return ERR(pk, at, "STOP with an empty stack or open MARK");
            *result = r;
            return 0;
        }
        case '(':
            if (pk->nmarks == pk->marks_cap) {
                if (pk->marks_cap >= MAX_STACK) return ERR(pk, at, "too many MARKs");
                size_t cap = pk->marks_cap ? pk->marks_cap * 2 : 16;
                void *p = realloc(pk->marks, cap * sizeof(*pk->marks));
                if (!p) return oom(pk);
                pk->marks = p;
                pk->marks_cap = cap;
            }
            pk->marks[pk->nmarks++] = pk->sp;
            break;
        case 'c': rc = op_global(pk, at); break;
        case 0x93: { /* STACK_GLOBAL */
            struct pk_obj *name = pop(pk), *mod = pop(pk);
            if (!name || !mod || name->kind != PK_STR || mod->kind != PK_STR)
                return ERR(pk, at, "STACK_GLOBAL needs two strings");
            rc = resolve_global(pk, mod->u.str.s, name->u.str.s, at);
            break;
        }
        case 'Q': rc = op_persid(pk, at); break;
        case 'R': rc = op_reduce(pk, at, 0); break;
        case 0x81: rc = op_reduce(pk, at, 1); break; /* NEWOBJ cls args */
        case 'b': { /* BUILD: state is ignored for the allowed objects */
            struct pk_obj *state = pop(pk), *obj = top(pk);
            if (!state || !obj) return ERR(pk, at, "stack underflow");
            if (obj->kind != PK_DICT && obj->kind != PK_TENSOR && obj->kind != PK_OPAQUE)
                return ERR(pk, at, "BUILD on an object that does not allow it");
            break;
        }
        case ')': rc = push(pk, pk_new(pk, PK_TUPLE)); break;
        case ']': rc = push(pk, pk_new(pk, PK_LIST)); break;
        case '}': rc = push(pk, pk_new(pk, PK_DICT)); break;
        case 0x8f: rc = push(pk, pk_new(pk, PK_SET)); break;
        case 't': {
            struct pk_obj *t;
            if ((rc = pop_mark(pk, PK_TUPLE, &t))) return rc;
            rc = push(pk, t);
            break;
        }
        case 'l': {
            struct pk_obj *t;
            if ((rc = pop_mark(pk, PK_LIST, &t))) return rc;
            rc = push(pk, t);
            break;
        }
        case 0x85: rc = op_tuple(pk, at, 1); break;
        case 0x86: rc = op_tuple(pk, at, 2); break;
        case 0x87: rc = op_tuple(pk, at, 3); break;
        case 'a': rc = op_appends(pk, at, 0); break;
        case 'e': rc = op_appends(pk, at, 1); break;
        case 0x90: rc = op_appends(pk, at, 1); break; /* ADDITEMS */
        case 's': rc = op_setitems(pk, at, 0); break;
        case 'u': rc = op_setitems(pk, at, 1); break;
        case 'N': rc = push(pk, pk_new(pk, PK_NONE)); break;
        case 0x88:
        case 0x89: {
            struct pk_obj *o = pk_new(pk, PK_BOOL);
            if (o) o->u.i = op == 0x88;
            rc = push(pk, o);
            break;
        }
        case 'J':
            if (!(rc = cur_u32(c, &u32, "BININT"))) rc = new_int(pk, (int32_t)u32);
            break;
        case 'K':
            if (!(rc = cur_u8(c, &b1, "BININT1"))) rc = new_int(pk, b1);
            break;
        case 'M':
            if (!(rc = cur_u16(c, &u16, "BININT2"))) rc = new_int(pk, u16);
            break;
        case 0x8a: { /* LONG1: little-endian two's complement of n bytes */
            if ((rc = cur_u8(c, &b1, "LONG1"))) return rc;
            uint8_t buf[8] = {0};
            if (b1 > 8) {
                rc = new_str(pk, PK_BIGINT, b1);
                break;
            }
            if ((rc = cur_bytes(c, buf, b1, "LONG1"))) return rc;
            uint64_t v = 0;
            for (int i = b1 - 1; i >= 0; i--) v = v << 8 | buf[i];
            if (b1 && b1 < 8 && (buf[b1 - 1] & 0x80)) v |= ~0ull << (8 * b1);
            rc = new_int(pk, (int64_t)v);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            uint8_t buf[8];
            if ((rc = cur_bytes(c, buf, 8, "BINFLOAT"))) return rc;
            uint64_t v = 0;
            for (int i = 0; i < 8; i++) v = v << 8 | buf[i];
            struct pk_obj *o = pk_new(pk, PK_FLOAT);
            if (o) memcpy(&o->u.f, &v, 8);
            rc = push(pk, o);
            break;
        }
        case 'X': /* BINUNICODE */
            if (!(rc = cur_u32(c, &u32, "BINUNICODE"))) rc = new_str(pk, PK_STR, u32);
            break;
        case 0x8c: /* SHORT_BINUNICODE */
        case 'U':  /* SHORT_BINSTRING */
            if (!(rc = cur_u8(c, &b1, "string length"))) rc = new_str(pk, PK_STR, b1);
            break;
        case 'B': /* BINBYTES */
            if (!(rc = cur_u32(c, &u32, "BINBYTES"))) rc = new_str(pk, PK_BYTES, u32);
            break;
        case 'C': /* SHORT_BINBYTES */
            if (!(rc = cur_u8(c, &b1, "SHORT_BINBYTES"))) rc = new_str(pk, PK_BYTES, b1);
            break;
        case 'h':
            if (!(rc = cur_u8(c, &b1, "BINGET"))) rc = memo_get(pk, b1, at);
            break;
        case 'j':
            if (!(rc = cur_u32(c, &u32, "LONG_BINGET"))) rc = memo_get(pk, u32, at);
            break;
        case 'q':
            if (!(rc = cur_u8(c, &b1, "BINPUT"))) rc = memo_put(pk, b1, at);
            break;
        case 'r':
            if (!(rc = cur_u32(c, &u32, "LONG_BINPUT"))) rc = memo_put(pk, u32, at);
            break;
        case 0x94: /* MEMOIZE */ rc = memo_put(pk, pk->memo_n, at); break;
        default: return ERR(pk, at, "unsupported pickle opcode 0x%02x", op);
        }
        if (rc) return rc;
    }
}
