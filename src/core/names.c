/* dtypes, devices, policies and dtype rules: names, sizes and parsing. */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
    const char *aliases[6]; /* safetensors and torch spellings */
} dtypes[LG_DTYPE_COUNT] = {
    [LG_F64] = {"f64", 8, {"F64", "float64", "double", "torch.float64", "torch.double", NULL}},
    [LG_F32] = {"f32", 4, {"F32", "float32", "float", "torch.float32", "torch.float", NULL}},
    [LG_F16] = {"f16", 2, {"F16", "float16", "half", "torch.float16", "torch.half", NULL}},
    [LG_BF16] = {"bf16", 2, {"BF16", "bfloat16", "torch.bfloat16", NULL}},
    [LG_I64] = {"i64", 8, {"I64", "int64", "long", "torch.int64", "torch.long", NULL}},
    [LG_I32] = {"i32", 4, {"I32", "int32", "int", "torch.int32", "torch.int", NULL}},
    [LG_I16] = {"i16", 2, {"I16", "int16", "short", "torch.int16", "torch.short", NULL}},
    [LG_I8] = {"i8", 1, {"I8", "int8", "char", "torch.int8", NULL}},
    [LG_U8] = {"u8", 1, {"U8", "uint8", "byte", "torch.uint8", NULL}},
    [LG_BOOL] = {"bool", 1, {"BOOL", "torch.bool", NULL}},
};

const char *lg_dtype_name(lg_dtype d)
{
    return (unsigned)d < LG_DTYPE_COUNT ? dtypes[d].name : "?";
}

size_t lg_dtype_size(lg_dtype d) { return (unsigned)d < LG_DTYPE_COUNT ? dtypes[d].size : 0; }

lg_status lg_dtype_parse(const char *name, lg_dtype *out)
{
    if (!name)
        return LG_E_INVALID;
    for (int i = 0; i < LG_DTYPE_COUNT; i++) {
        int hit = !strcmp(name, dtypes[i].name);
        for (int a = 0; !hit && dtypes[i].aliases[a]; a++)
            hit = !strcmp(name, dtypes[i].aliases[a]);
        if (hit) {
            *out = (lg_dtype)i;
            return LG_OK;
        }
    }
    return lg__err(LG_E_INVALID, "unknown dtype \"%s\" (known: f64 f32 f16 bf16 i64 i32 i16 i8 u8 bool)", name);
}

lg_status lg_device_parse(const char *s, lg_device *out)
{
    if (!s)
        return LG_E_INVALID;
    if (!strcmp(s, "cpu")) {
        *out = (lg_device){LG_DEV_CPU, 0};
        return LG_OK;
    }
    if (!strcmp(s, "mps")) {
        *out = (lg_device){LG_DEV_MPS, 0};
        return LG_OK;
    }
    if (!strcmp(s, "cuda")) {
        *out = (lg_device){LG_DEV_CUDA, 0};
        return LG_OK;
    }
    if (!strncmp(s, "cuda:", 5) && s[5] >= '0' && s[5] <= '9') {
        char *end;
        long idx = strtol(s + 5, &end, 10);
        if (*end == '\0' && idx <= 255) {
            *out = (lg_device){LG_DEV_CUDA, (int)idx};
            return LG_OK;
        }
    }
    return lg__err(LG_E_INVALID, "unknown device \"%s\" (expected cpu, cuda, cuda:N or mps)", s);
}

const char *lg_device_format(lg_device d, char *buf)
{
    switch (d.type) {
    case LG_DEV_CPU: snprintf(buf, LG_DEVICE_NAME_MAX, "cpu"); break;
    case LG_DEV_MPS: snprintf(buf, LG_DEVICE_NAME_MAX, "mps"); break;
    case LG_DEV_CUDA: snprintf(buf, LG_DEVICE_NAME_MAX, "cuda:%d", d.index); break;
    default: snprintf(buf, LG_DEVICE_NAME_MAX, "?"); break;
    }
    return buf;
}

int lg_device_equal(lg_device a, lg_device b) { return a.type == b.type && a.index == b.index; }

lg_device lg_device_cpu(void) { return (lg_device){LG_DEV_CPU, 0}; }

static const char *const policy_names[LG_POLICY_COUNT] = {"via-cpu", "staged", "direct", "auto", "tch"};

const char *lg_policy_name(lg_policy p)
{
    return (unsigned)p < LG_POLICY_COUNT ? policy_names[p] : "?";
}

lg_status lg_policy_parse(const char *s, lg_policy *out)
{
    for (int i = 0; s && i < LG_POLICY_COUNT; i++) {
        if (!strcmp(s, policy_names[i])) {
            *out = (lg_policy)i;
            return LG_OK;
        }
    }
    return lg__err(LG_E_INVALID, "unknown policy \"%s\" (expected via-cpu, staged, direct, auto or tch)",
                   s ? s : "(null)");
}

static const char *const dtype_rule_names[LG_DTYPE_RULE_COUNT] = {"adopt", "strict", "convert"};

const char *lg_dtype_rule_name(lg_dtype_rule r)
{
    return (unsigned)r < LG_DTYPE_RULE_COUNT ? dtype_rule_names[r] : "?";
}

lg_status lg_dtype_rule_parse(const char *s, lg_dtype_rule *out)
{
    for (int i = 0; s && i < LG_DTYPE_RULE_COUNT; i++) {
        if (!strcmp(s, dtype_rule_names[i])) {
            *out = (lg_dtype_rule)i;
            return LG_OK;
        }
    }
    return lg__err(LG_E_INVALID, "unknown dtype rule \"%s\" (expected convert, adopt or strict)",
                   s ? s : "(null)");
}

void lg_load_options_init(lg_load_options *o)
{
    memset(o, 0, sizeof *o);
    o->policy = LG_POLICY_VIA_CPU;
    o->dtype_rule = LG_DTYPE_CONVERT;
}

int lg__numel(int ndim, const int64_t *shape, uint64_t *numel)
{
    uint64_t n = 1;
    if (ndim < 0 || ndim > LG_MAX_DIMS)
        return 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return 0;
        if (shape[i] != 0 && n > UINT64_MAX / (uint64_t)shape[i])
            return 0;
        n *= (uint64_t)shape[i];
    }
    *numel = n;
    return 1;
}

int lg__nbytes(lg_dtype d, int ndim, const int64_t *shape, uint64_t *nbytes)
{
    uint64_t n, size = lg_dtype_size(d);
    if (!size || !lg__numel(ndim, shape, &n) || (n && n > UINT64_MAX / size))
        return 0;
    *nbytes = n * size;
    return 1;
}

int lg__shape_equal(int an, const int64_t *a, int bn, const int64_t *b)
{
    if (an != bn)
        return 0;
    for (int i = 0; i < an; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

const char *lg__shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}
