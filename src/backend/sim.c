/* The sim backend: host buffers tagged with a device, and a quirk profile
 * per device type, so that the MPS control flow is tested on machines with
 * no MPS or CUDA. The default mps profile refuses direct deserialization
 * with libtorch 1.13's message and float64 with MPS's. */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIM_MAGIC 0x51d7e2a5u

typedef struct {
    int available;
    int direct_deserialize;
    int float64;
    int alloc_refused;  /* every allocation refused: a device that claims to be there but is not usable */
    int readback_wrong; /* reads back to the host give other bytes than were written */
    uint64_t capacity; /* 0 = unlimited */
    uint64_t in_use;
} sim_profile;

typedef struct {
    sim_profile dev[LG_DEVICE_TYPE_COUNT]; /* by lg_device_type */
    size_t live;
} sim_state;

typedef struct {
    unsigned magic;
    lg_device device;
    lg_dtype dtype;
    uint64_t nbytes;
    unsigned char *data;
} sim_tensor;

/* A tensor's bytes follow its header in the same block, at a multiple of
 * 16 (malloc's alignment, enough for every dtype). */
#define SIM_HEAD ((sizeof(sim_tensor) + 15) / 16 * 16)

/* libtorch 1.13, torch/csrc/jit/serialization/unpickler.cpp */
#define MSG_MPS_DESERIALIZE "supported devices include CPU, CUDA and HPU, however got MPS"
/* MPS's refusal of float64 */
#define MSG_MPS_F64                                                                        \
    "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support "  \
    "float64. Please use float32 instead."
/* What a GitHub-hosted macOS arm64 runner says, where MPS reports itself
 * available but cannot be used (actions/runner-images#9918) */
#define MSG_MPS_ALLOC_REFUSED                                                               \
    "MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, max "  \
    "allowed: 7.93 GB). Tried to allocate %llu bytes on private pool. Use "                \
    "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations "  \
    "(may cause system failure)."

static sim_state *st_of(lg_backend *b) { return b->priv; }

static lg_status sim_open(lg_backend *b)
{
    sim_state *s = calloc(1, sizeof *s);
    if (!s)
        return lg__err(LG_E_NOMEM, "out of memory opening the sim backend");
    for (int i = 0; i < LG_DEVICE_TYPE_COUNT; i++)
        s->dev[i] = (sim_profile){.available = 1, .direct_deserialize = 1, .float64 = 1};
    s->dev[LG_DEV_MPS].direct_deserialize = 0;
    s->dev[LG_DEV_MPS].float64 = 0;
    b->priv = s;
    return LG_OK;
}

static void sim_close(lg_backend *b) { free(b->priv); }

static int sim_has_device(lg_backend *b, lg_device d)
{
    if ((unsigned)d.type >= LG_DEVICE_TYPE_COUNT || d.index != 0)
        return 0;
    return st_of(b)->dev[d.type].available;
}

static int sim_direct_ok(lg_backend *b, lg_device d)
{
    return sim_has_device(b, d) && st_of(b)->dev[d.type].direct_deserialize;
}

static lg_status absent(lg_device d)
{
    char dn[LG_DEVICE_NAME_MAX];
    return lg__err(LG_E_DEVICE, "%s: device not available (sim profile)", lg_device_format(d, dn));
}

static lg_status sim_check_deserialize(lg_backend *b, lg_device d)
{
    if (!sim_has_device(b, d))
        return absent(d);
    if (!st_of(b)->dev[d.type].direct_deserialize) {
        if (d.type == LG_DEV_MPS)
            return lg__err(LG_E_DEVICE, MSG_MPS_DESERIALIZE);
        char dn[LG_DEVICE_NAME_MAX];
        return lg__err(LG_E_DEVICE, "%s: direct deserialization refused (sim profile)",
                       lg_device_format(d, dn));
    }
    return LG_OK;
}

static lg_status sim_check_dtype(lg_backend *b, lg_device d, lg_dtype t)
{
    if (t == LG_F64 && sim_has_device(b, d) && !st_of(b)->dev[d.type].float64) {
        if (d.type == LG_DEV_MPS)
            return lg__err(LG_E_DTYPE, MSG_MPS_F64);
        char dn[LG_DEVICE_NAME_MAX];
        return lg__err(LG_E_DTYPE, "%s: float64 is not supported (sim profile)",
                       lg_device_format(d, dn));
    }
    return LG_OK;
}

/* The profile's alloc=refuse: a device that says it is available and
 * refuses every allocation, however small. */
static lg_status alloc_refused(lg_device d, uint64_t nbytes)
{
    char dn[LG_DEVICE_NAME_MAX];
    if (d.type == LG_DEV_MPS)
        return lg__err(LG_E_DEVICE, MSG_MPS_ALLOC_REFUSED, (unsigned long long)nbytes);
    return lg__err(LG_E_DEVICE, "%s: allocation of %llu bytes refused (sim profile)",
                   lg_device_format(d, dn), (unsigned long long)nbytes);
}

static lg_status sim_alloc(lg_backend *b, lg_device d, lg_dtype t, int ndim, const int64_t *shape,
                           void **out)
{
    sim_state *s = st_of(b);
    char dn[LG_DEVICE_NAME_MAX];
    uint64_t nbytes;
    if (!sim_has_device(b, d))
        return absent(d);
    lg_status st = sim_check_dtype(b, d, t);
    if (st != LG_OK)
        return st;
    if (!lg__nbytes(t, ndim, shape, &nbytes) || nbytes > SIZE_MAX / 2)
        return lg__err(LG_E_INVALID, "tensor size overflows");
    sim_profile *p = &s->dev[d.type];
    if (p->alloc_refused)
        return alloc_refused(d, nbytes);
    if (p->capacity && (nbytes > p->capacity || p->in_use > p->capacity - nbytes)) {
        if (d.type == LG_DEV_MPS)
            return lg__err(LG_E_DEVICE,
                           "MPS backend out of memory (MPS allocated: %llu bytes, max allowed: "
                           "%llu bytes). Tried to allocate %llu bytes",
                           (unsigned long long)p->in_use, (unsigned long long)p->capacity,
                           (unsigned long long)nbytes);
        return lg__err(LG_E_DEVICE, "%s: out of memory. Tried to allocate %llu bytes "
                       "(%llu of %llu bytes in use)", lg_device_format(d, dn),
                       (unsigned long long)nbytes, (unsigned long long)p->in_use,
                       (unsigned long long)p->capacity);
    }
    /* One block: the header, then the bytes (zeros, as calloc gives). */
    sim_tensor *x = calloc(1, SIM_HEAD + (size_t)nbytes);
    if (!x)
        return lg__err(LG_E_DEVICE, "%s: out of memory. Tried to allocate %llu bytes",
                       lg_device_format(d, dn), (unsigned long long)nbytes);
    *x = (sim_tensor){SIM_MAGIC, d, t, nbytes, (unsigned char *)x + SIM_HEAD};
    p->in_use += nbytes;
    s->live++;
    *out = x;
    return LG_OK;
}

static void sim_free(lg_backend *b, void *t)
{
    sim_tensor *x = t;
    if (!x || x->magic != SIM_MAGIC)
        return;
    st_of(b)->dev[x->device.type].in_use -= x->nbytes;
    st_of(b)->live--;
    x->magic = 0;
    free(x);
}

static lg_status size_mismatch(uint64_t have, uint64_t want)
{
    return lg__err(LG_E_INVALID, "sim: size mismatch (%llu bytes, expected %llu)",
                   (unsigned long long)have, (unsigned long long)want);
}

static lg_status sim_write(lg_backend *b, void *t, const void *src, size_t n)
{
    sim_tensor *x = t;
    if (n != x->nbytes)
        return size_mismatch(n, x->nbytes);
    if (n)
        memcpy(x->data, src, n);
    return LG_OK;
}

static lg_status sim_read(lg_backend *b, void *t, void *dst, size_t n)
{
    sim_tensor *x = t;
    if (n != x->nbytes)
        return size_mismatch(n, x->nbytes);
    if (n)
        memcpy(dst, x->data, n);
    /* The profile's readback=wrong (pytorch/pytorch#125197): the copy to
     * the host succeeds and every byte of it differs from the device's. */
    if ((unsigned)x->device.type < LG_DEVICE_TYPE_COUNT &&
        st_of(b)->dev[x->device.type].readback_wrong)
        for (size_t i = 0; i < n; i++)
            ((unsigned char *)dst)[i] ^= 0xa5;
    return LG_OK;
}

static lg_status sim_copy(lg_backend *b, void *dst, void *src)
{
    sim_tensor *d = dst, *s = src;
    if (d->nbytes != s->nbytes || d->dtype != s->dtype)
        return size_mismatch(s->nbytes, d->nbytes);
    if (d->nbytes)
        memcpy(d->data, s->data, d->nbytes);
    return LG_OK;
}

static lg_status sim_device_of(lg_backend *b, void *t, lg_device *out)
{
    sim_tensor *x = t;
    if (!x || x->magic != SIM_MAGIC)
        return lg__err(LG_E_INVALID, "sim: not a live tensor");
    *out = x->device;
    return LG_OK;
}

static size_t sim_live(lg_backend *b) { return st_of(b)->live; }

/* Every sim tensor is a host buffer (calloc'ed: zeroed, and untouched
 * until written). */
static void *sim_host_data(lg_backend *b, void *t)
{
    sim_tensor *x = t;
    return x && x->magic == SIM_MAGIC ? x->data : NULL;
}

/* In place, unless the profile of its device reads back other bytes
 * (readback=wrong): then only a read() shows what the device gives. */
static const void *sim_peek(lg_backend *b, void *t)
{
    sim_tensor *x = t;
    if (!x || x->magic != SIM_MAGIC || (unsigned)x->device.type >= LG_DEVICE_TYPE_COUNT ||
        st_of(b)->dev[x->device.type].readback_wrong)
        return NULL;
    return x->data;
}

static uint64_t sim_device_bytes(lg_backend *b, lg_device d)
{
    return (unsigned)d.type < LG_DEVICE_TYPE_COUNT ? st_of(b)->dev[d.type].in_use : 0;
}

static int parse_bytes(const char *v, uint64_t *out)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    uint64_t mul = 1;
    if (end == v || *v == '-')
        return 0;
    if (!strcasecmp(end, "KiB"))
        mul = 1024;
    else if (!strcasecmp(end, "MiB"))
        mul = 1024 * 1024;
    else if (!strcasecmp(end, "GiB"))
        mul = 1024ULL * 1024 * 1024;
    else if (*end && strcmp(end, "B"))
        return 0;
    if (n > UINT64_MAX / mul)
        return 0;
    *out = n * mul;
    return 1;
}

static int parse_switch(const char *v, const char *on, const char *off, int *out)
{
    if (!strcmp(v, on))
        *out = 1;
    else if (!strcmp(v, off))
        *out = 0;
    else
        return 0;
    return 1;
}

lg_status lg__sim_profile_set(lg_backend *b, lg_device d, const char *key, const char *value)
{
    if ((unsigned)d.type >= LG_DEVICE_TYPE_COUNT || !key || !value)
        return lg__err(LG_E_INVALID, "sim profile: bad device, key or value");
    sim_profile *p = &st_of(b)->dev[d.type];
    int ok = 0;
    if (!strcmp(key, "direct_deserialize"))
        ok = parse_switch(value, "ok", "refuse", &p->direct_deserialize);
    else if (!strcmp(key, "float64"))
        ok = parse_switch(value, "ok", "refuse", &p->float64);
    else if (!strcmp(key, "available"))
        ok = parse_switch(value, "yes", "no", &p->available);
    else if (!strcmp(key, "capacity"))
        ok = parse_bytes(value, &p->capacity);
    else if (!strcmp(key, "alloc"))
        ok = parse_switch(value, "refuse", "ok", &p->alloc_refused);
    else if (!strcmp(key, "readback"))
        ok = parse_switch(value, "wrong", "ok", &p->readback_wrong);
    else
        return lg__err(LG_E_INVALID, "sim profile: unknown key \"%s\" (expected "
                       "direct_deserialize, float64, available, capacity, alloc or "
                       "readback)", key);
    if (!ok)
        return lg__err(LG_E_INVALID, "sim profile: bad value \"%s\" for %s", value, key);
    return LG_OK;
}

const lg__backend_ops lg__sim_ops = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .has_device = sim_has_device,
    .direct_ok = sim_direct_ok,
    .check_deserialize = sim_check_deserialize,
    .check_dtype = sim_check_dtype,
    .alloc = sim_alloc,
    .free = sim_free,
    .write = sim_write,
    .read = sim_read,
    .copy = sim_copy,
    .device_of = sim_device_of,
    .live = sim_live,
    .device_bytes = sim_device_bytes,
    .host_data = sim_host_data,
    .peek = sim_peek,
    .alloc_zeroed = 1,
};
