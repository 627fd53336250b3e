/* What the probe's children do (internal.h): write the sample files and
 * say which devices the backend claims; check that a claimed device
 * really holds 256 bytes; read a sample straight onto a device with one
 * reader and compare the values. Each runs in its own forked child, so
 * that it may crash, hang or initialise libtorch freely. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fixture/gen.h"
#include "probe/internal.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------ the sample */

#define SAMPLE_N 3

typedef struct {
    float w[12];
    int64_t idx[3];
    unsigned char flags[4];
    int64_t shape_w[2], shape_idx[1], shape_flags[1];
    lg_named_data t[SAMPLE_N];
} sample;

static void sample_make(sample *s)
{
    for (int i = 0; i < 12; i++)
        s->w[i] = (float)i * 0.5f - 2.0f;
    for (int i = 0; i < 3; i++)
        s->idx[i] = (int64_t)i * 1000003 - 7;
    for (int i = 0; i < 4; i++)
        s->flags[i] = (unsigned char)(i % 2);
    s->shape_w[0] = 3;
    s->shape_w[1] = 4;
    s->shape_idx[0] = 3;
    s->shape_flags[0] = 4;
    s->t[0] = (lg_named_data){"layer.weight", LG_F32, 2, s->shape_w, s->w};
    s->t[1] = (lg_named_data){"index", LG_I64, 1, s->shape_idx, s->idx};
    s->t[2] = (lg_named_data){"flags", LG_BOOL, 1, s->shape_flags, s->flags};
}

/* The file each reader reads: the writer of the same name makes it
 * (torchscript's jit::load reads the archive torch-archive's writer
 * makes, as it reads tch's .ot files). */
static const char *const sample_files[HX_PROBE_NREADERS] = {"probe.ot", "probe.ot", "probe.pt",
                                                            "probe.pkl"};
static const char *const sample_writers[HX_PROBE_NREADERS] = {"torch-archive", NULL,
                                                              "torch-params", "torch-pickle"};

void hx_probe_sample_path(const hx_probe_state *s, int reader, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", s->dir, s->sim ? "probe.safetensors" : sample_files[reader]);
}

/* ------------------------------------------------------ backends */

/* The backend, with the sim settings for reader applied; its message in
 * hx_errmsg() on failure. */
static lg_status open_backend(const hx_probe_state *s, int reader, lg_backend **b)
{
    lg_status st = lg_backend_open(s->sim ? "sim" : "torch", b);
    if (st != LG_OK)
        return hx_err_lib(st);
    if (s->sim && (st = hx_probe_sim_apply(*b, s->o, reader)) != LG_OK) {
        lg_backend_close(*b);
        *b = NULL;
    }
    return st;
}

static lg_device device_of(int dev) { return (lg_device){(lg_device_type)dev, 0}; }

/* ------------------------------------------------------ setup */

static lg_status write_samples(const hx_probe_state *s)
{
    char path[700];
    if (s->sim) {
        hx_gen g;
        hx_gen_init(&g);
        g.tensors = SAMPLE_N;
        g.ndim = 2;
        g.shape[0] = 3;
        g.shape[1] = 4;
        hx_probe_sample_path(s, 0, path, sizeof path);
        return hx_gen_write(&g, path) == LG_OK ? LG_OK : LG_E_IO;
    }
    sample x;
    sample_make(&x);
    for (int i = 0; i < HX_PROBE_NREADERS; i++) {
        if (!sample_writers[i])
            continue;
        hx_probe_sample_path(s, i, path, sizeof path);
        lg_status st = lg_torch_write_file(path, sample_writers[i], x.t, SAMPLE_N);
        if (st != LG_OK)
            return hx_err(st, "writing the %s sample: %s", sample_writers[i], lg_error_message());
    }
    return LG_OK;
}

void hx_probe_setup_body(void *job, char *line)
{
    const hx_probe_job *j = job;
    lg_backend *b = NULL;
    if (write_samples(j->s) != LG_OK) {
        snprintf(line, HX_PROBE_LINE, "error\t%s", hx_errmsg());
        return;
    }
    if (open_backend(j->s, -1, &b) != LG_OK) {
        snprintf(line, HX_PROBE_LINE, "error\t%s", hx_errmsg());
        return;
    }
    snprintf(line, HX_PROBE_LINE, "%d %d %d", lg_backend_has_device(b, device_of(LG_DEV_CPU)),
             lg_backend_has_device(b, device_of(LG_DEV_CUDA)),
             lg_backend_has_device(b, device_of(LG_DEV_MPS)));
    lg_backend_close(b);
}

/* ------------------------------------------------------ device check */

#define CHECK_N (HX_PROBE_CHECK_BYTES / 4)

/* Allocates HX_PROBE_CHECK_BYTES on the device, copies a pattern there
 * from the host, reads it back, moves it to cpu and reads it again:
 * 0, or -1 with what failed in why. */
static int check_store(lg_store *st, lg_device d, char *why, size_t n)
{
    float want[CHECK_N], got[CHECK_N];
    int64_t shape[1] = {CHECK_N};
    lg_device where;
    char a[LG_DEVICE_NAME_MAX], dn[LG_DEVICE_NAME_MAX];
    for (int i = 0; i < CHECK_N; i++)
        want[i] = (float)i * 0.25f - 3.0f;
    lg_device_format(d, dn);
    if (lg_store_add(st, "probe.check", LG_F32, 1, shape) != LG_OK)
        return snprintf(why, n, "allocating %d bytes: %s", HX_PROBE_CHECK_BYTES,
                        lg_error_message()), -1;
    if (lg_store_fill(st, "probe.check", want, sizeof want) != LG_OK)
        return snprintf(why, n, "copying %d bytes to %s: %s", HX_PROBE_CHECK_BYTES, dn,
                        lg_error_message()), -1;
    for (int pass = 0; pass < 2; pass++) {
        const char *what = pass ? "after a move to cpu" : "read back";
        if (lg_store_read(st, 0, got, sizeof got, &where) != LG_OK)
            return snprintf(why, n, "%s: %s", what, lg_error_message()), -1;
        if (memcmp(got, want, sizeof want))
            return snprintf(why, n, "%d bytes written to %s came back with other values (%s)",
                            HX_PROBE_CHECK_BYTES, dn, what), -1;
        if (!lg_device_equal(where, pass ? lg_device_cpu() : d))
            return snprintf(why, n, "%s: the tensor is on %s", what, lg_device_format(where, a)),
                   -1;
        if (!pass && lg_store_set_device(st, lg_device_cpu()) != LG_OK)
            return snprintf(why, n, "moving %d bytes from %s to cpu: %s", HX_PROBE_CHECK_BYTES,
                            dn, lg_error_message()), -1;
    }
    return 0;
}

void hx_probe_check_body(void *job, char *line)
{
    const hx_probe_job *j = job;
    lg_backend *b = NULL;
    lg_store *st = NULL;
    char why[HX_PROBE_MSG] = "";
    lg_device d = device_of(j->dev);
    if (open_backend(j->s, -1, &b) != LG_OK)
        snprintf(why, sizeof why, "%s", hx_errmsg());
    else if (lg_store_new(b, d, &st) != LG_OK)
        snprintf(why, sizeof why, "%s", lg_error_message());
    else
        check_store(st, d, why, sizeof why);
    snprintf(line, HX_PROBE_LINE, "%s\t%s", why[0] ? "broken" : "ok", why);
    lg_store_free(st);
    lg_backend_close(b);
}

/* ------------------------------------------------------ readers */

typedef struct {
    lg_device dev;
    sample s;
    int seen, bad;
    char why[HX_PROBE_MSG];
} verify_ctx;

static int same_shape(const lg_named_data *a, const lg_named_data *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

static int verify(void *ctx, const lg_named_data *t, lg_device where)
{
    verify_ctx *k = ctx;
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    k->seen++;
    for (int i = 0; i < SAMPLE_N; i++) {
        const lg_named_data *w = &k->s.t[i];
        if (strcmp(w->name, t->name))
            continue;
        uint64_t nb = lg_dtype_size(w->dtype);
        for (int d = 0; d < w->ndim; d++)
            nb *= (uint64_t)w->shape[d];
        if (!lg_device_equal(where, k->dev))
            snprintf(k->why, sizeof k->why, "loaded onto %s, not %s", lg_device_format(where, a),
                     lg_device_format(k->dev, b));
        else if (t->dtype != w->dtype || !same_shape(t, w) || memcmp(t->data, w->data, nb))
            snprintf(k->why, sizeof k->why, "tensor \"%s\" loaded with other values", t->name);
        else
            return 0;
        k->bad = 1;
        return 1;
    }
    snprintf(k->why, sizeof k->why, "unexpected tensor \"%s\"", t->name);
    k->bad = 1;
    return 1;
}

/* The first line of s without loadgate's "<path>: " and "loading onto
 * <dev>: " or "tensor \"<name>\": " prefixes: the deserializer's own
 * words. */
static void own_words(const char *s, const char *path, char *out, size_t n)
{
    size_t pl = strlen(path);
    if (!strncmp(s, path, pl) && !strncmp(s + pl, ": ", 2)) {
        const char *rest = s + pl + 2;
        const char *p = strstr(rest, ": ");
        if (p && (!strncmp(rest, "loading onto ", 13) || !strncmp(rest, "tensor \"", 8)))
            s = p + 2;
    }
    size_t k = strcspn(s, "\n\t");
    if (k >= n)
        k = n - 1;
    memcpy(out, s, k);
    out[k] = '\0';
}

/* The sim stands in for libtorch's readers: the sample is deserialized
 * tensor by tensor straight onto the device through the sim backend,
 * read back and compared (lg_checkpoint_try_device). The message of a
 * failure goes to err. */
static lg_status sim_read(const hx_probe_job *j, const char *path, verify_ctx *k, char *err,
                          size_t n)
{
    lg_backend *b = NULL;
    lg_checkpoint *c = NULL;
    lg_status st = open_backend(j->s, j->reader, &b);
    if (st != LG_OK) {
        snprintf(err, n, "%s", hx_errmsg());
        return st;
    }
    lg_open_options oo = {.backend = b};
    st = lg_checkpoint_open(path, &oo, &c);
    for (size_t i = 0; st == LG_OK && i < lg_checkpoint_count(c); i++, k->seen++)
        st = lg_checkpoint_try_device(c, i, k->dev);
    if (st != LG_OK)
        own_words(lg_error_message(), path, err, n);
    lg_checkpoint_close(c);
    lg_backend_close(b);
    return st;
}

void hx_probe_read_body(void *job, char *line)
{
    const hx_probe_job *j = job;
    verify_ctx k = {.dev = device_of(j->dev)};
    char path[700], msg[HX_PROBE_MSG] = "";
    lg_status st;
    sample_make(&k.s);
    hx_probe_sample_path(j->s, j->reader, path, sizeof path);
    if (j->s->sim) {
        st = sim_read(j, path, &k, msg, sizeof msg);
    } else {
        st = lg_torch_read_archive(path, hx_probe_readers[j->reader], k.dev, verify, &k);
        if (st != LG_OK)
            own_words(lg_error_message(), path, msg, sizeof msg);
    }
    if (st == LG_OK && !k.bad && k.seen != SAMPLE_N) {
        snprintf(k.why, sizeof k.why, "%d of %d tensors came back", k.seen, SAMPLE_N);
        k.bad = 1;
    }
    if (st == LG_OK)
        snprintf(msg, sizeof msg, "%s", k.bad ? k.why : "");
    snprintf(line, HX_PROBE_LINE, "%s\t%d\t%s", lg_status_name(st), st == LG_OK && !k.bad, msg);
}
