/* `harness probe`: the upgrade gate's core. Does libtorch's own
 * deserializer load onto each device yet, and so is the MPS workaround
 * still needed?
 *
 * Every step that touches libtorch runs in a forked child (run/child.h),
 * with a timeout, so that a crash or a hang is reported rather than
 * suffered; the parent never initialises libtorch (no thread pool, no
 * CUDA context) and so can fork safely. Each child writes one line to its
 * result pipe:
 *   setup:  "<cpu> <cuda> <mps>"            device availability, 0 or 1
 *   probe:  "<status>\t<verified>\t<message>"
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"
#include "run/child.h"
#include "util/error.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: harness probe [--json] [--timeout S]\n"
    "\n"
    "Loads a small archive, written here, straight onto cpu, cuda and mps with\n"
    "each libtorch reader (torch-archive: InputArchive; torchscript:\n"
    "torch::jit::load), and says whether the MPS workaround is still needed.\n"
    "\n"
    "  --json        print a JSON object instead of a table\n"
    "  --timeout S   seconds each probe may take (default 60)\n"
    "\n"
    "results: works (loaded, values verified), rejected (libtorch's deserializer\n"
    "refused the device), unavailable (no such device in this build or machine),\n"
    "crash (the probe died or hung).\n"
    "verdict: needed, removable or unknown, with its reason.\n"
    "exit: 0 done, 1 a probe crashed, 2 bad usage\n";

enum { DEV_CPU = LG_DEV_CPU, DEV_CUDA = LG_DEV_CUDA, DEV_MPS = LG_DEV_MPS, NDEV = LG_DEVICE_TYPE_COUNT };
#define NREADERS 2
#define MSG_MAX 512

static const char *const dev_names[NDEV] = {"cpu", "cuda", "mps"};
static const char *const readers[NREADERS] = {"torch-archive", "torchscript"};

typedef struct {
    const char *reader;
    int dev;
    const char *result; /* works rejected unavailable crash */
    char message[MSG_MAX];
} probe;

typedef struct {
    int json;
    double timeout;
    int have[NDEV];
    char setup_error[MSG_MAX];
    probe p[NREADERS * NDEV];
    size_t np;
    const char *verdict;
    char reason[2 * MSG_MAX];
} probe_run;

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

/* ------------------------------------------------------ children */

typedef struct {
    void (*fn)(void *arg, char *line);
    void *arg;
} probe_job;

/* In the child: fn's line, written to the result pipe. */
static int child_main(void *p, int fd)
{
    const probe_job *j = p;
    char line[MSG_MAX + 64] = "";
    j->fn(j->arg, line);
    size_t n = strlen(line);
    return write(fd, line, n) == (ssize_t)n ? 0 : 3;
}

/* Runs fn(arg, line) in a forked child (run/child.h) that may take
 * `timeout` seconds; the child's line comes back in out. Returns 0 with a
 * line, else -1 with what happened in out. */
static int in_child(void (*fn)(void *arg, char *line), void *arg, double timeout, char *out)
{
    hx_child c;
    hx_child_opts o = {.timeout = timeout, .capture = 0, .no_dump = 0};
    probe_job j = {fn, arg};
    if (hx_child_fork(&c, &o, child_main, &j) != LG_OK) {
        snprintf(out, MSG_MAX, "%s", hx_errmsg());
        return -1;
    }
    hx_child_wait(&c);
    const char *line = hx_child_output(&c, NULL);
    int rc = !hx_child_failed(&c) && hx_child_exit_code(&c) == 0 && line ? 0 : -1;
    if (rc == 0)
        snprintf(out, MSG_MAX, "%s", line);
    else
        hx_child_describe(&c, out, MSG_MAX);
    hx_child_free(&c);
    return rc;
}

/* The first line of s, without loadgate's "<path>: loading onto <dev>: "
 * prefix: libtorch's own words. */
static void libtorch_line(const char *s, const char *path, char *out, size_t n)
{
    size_t pl = strlen(path);
    if (!strncmp(s, path, pl) && !strncmp(s + pl, ": loading onto ", 15)) {
        const char *p = strstr(s + pl + 15, ": ");
        if (p)
            s = p + 2;
    }
    size_t k = strcspn(s, "\n\t");
    if (k >= n)
        k = n - 1;
    memcpy(out, s, k);
    out[k] = '\0';
}

typedef struct {
    const char *path;
    const char *reader;
    lg_device dev;
    sample s;
    int seen, bad;
    char why[MSG_MAX];
} probe_child;

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
    probe_child *k = ctx;
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
            snprintf(k->why, MSG_MAX, "loaded onto %s, not %s", lg_device_format(where, a),
                     lg_device_format(k->dev, b));
        else if (t->dtype != w->dtype || !same_shape(t, w) || memcmp(t->data, w->data, nb))
            snprintf(k->why, MSG_MAX, "tensor \"%s\" loaded with other values", t->name);
        else
            return 0;
        k->bad = 1;
        return 1;
    }
    snprintf(k->why, MSG_MAX, "unexpected tensor \"%s\"", t->name);
    k->bad = 1;
    return 1;
}

static void probe_body(void *arg, char *line)
{
    probe_child *k = arg;
    char msg[MSG_MAX];
    sample_make(&k->s);
    lg_status st = lg_torch_read_archive(k->path, k->reader, k->dev, verify, k);
    if (st == LG_OK && !k->bad && k->seen != SAMPLE_N) {
        snprintf(k->why, MSG_MAX, "%d of %d tensors came back", k->seen, SAMPLE_N);
        k->bad = 1;
    }
    if (st != LG_OK)
        libtorch_line(lg_error_message(), k->path, msg, sizeof msg);
    else
        snprintf(msg, sizeof msg, "%s", k->bad ? k->why : "");
    snprintf(line, MSG_MAX + 64, "%s\t%d\t%s", lg_status_name(st), st == LG_OK && !k->bad, msg);
}

typedef struct {
    const char *path;
} setup_child;

static void setup_body(void *arg, char *line)
{
    setup_child *k = arg;
    sample s;
    lg_backend *b = NULL;
    sample_make(&s);
    if (lg_torch_write_archive(k->path, s.t, SAMPLE_N) != LG_OK ||
        lg_backend_open("torch", &b) != LG_OK) {
        snprintf(line, MSG_MAX, "error\t%s", lg_error_message());
        return;
    }
    lg_device cpu = {LG_DEV_CPU, 0}, cuda = {LG_DEV_CUDA, 0}, mps = {LG_DEV_MPS, 0};
    snprintf(line, MSG_MAX, "%d %d %d", lg_backend_has_device(b, cpu),
             lg_backend_has_device(b, cuda), lg_backend_has_device(b, mps));
    lg_backend_close(b);
}

/* ------------------------------------------------------ probing */

static int setup(probe_run *r, const char *path)
{
    setup_child k = {path};
    char out[MSG_MAX];
    if (in_child(setup_body, &k, r->timeout, out) != 0) {
        snprintf(r->setup_error, MSG_MAX, "setup: %s", out);
        return -1;
    }
    if (sscanf(out, "%d %d %d", &r->have[DEV_CPU], &r->have[DEV_CUDA], &r->have[DEV_MPS]) != 3) {
        libtorch_line(out + (strncmp(out, "error\t", 6) ? 0 : 6), path, r->setup_error, MSG_MAX);
        return -1;
    }
    return 0;
}

/* The unpickler's own device check (libtorch 1.13: "supported devices
 * include CPU, CUDA and HPU, however got MPS") refuses before it asks
 * whether the device exists: that is a rejection even here. */
static int deserializer_refusal(const char *msg)
{
    return strstr(msg, "supported devices include") || strstr(msg, "however got");
}

static void probe_one(probe_run *r, const char *path, const char *reader, int dev)
{
    static const lg_device devs[NDEV] = {{LG_DEV_CPU, 0}, {LG_DEV_CUDA, 0}, {LG_DEV_MPS, 0}};
    probe *p = &r->p[r->np++];
    probe_child k = {.path = path, .reader = reader, .dev = devs[dev]};
    char out[MSG_MAX], status[32] = "";
    int verified = 0, used = 0;
    p->reader = reader;
    p->dev = dev;
    if (in_child(probe_body, &k, r->timeout, out) != 0) {
        p->result = "crash";
        snprintf(p->message, MSG_MAX, "%s", out);
        return;
    }
    if (sscanf(out, "%31[^\t]\t%d\t%n", status, &verified, &used) < 2 || !used) {
        p->result = "crash";
        snprintf(p->message, MSG_MAX, "unreadable result: %.400s", out);
        return;
    }
    snprintf(p->message, MSG_MAX, "%s", out + used);
    if (verified)
        p->result = "works";
    else if (!strcmp(status, "LG_OK") || deserializer_refusal(p->message) || r->have[dev])
        p->result = "rejected";
    else
        p->result = "unavailable";
}

static void set_verdict(probe_run *r)
{
    const probe *rej = NULL, *unav = NULL;
    int works = 0, crash = 0, n = 0;
    if (r->setup_error[0]) {
        r->verdict = "unknown";
        snprintf(r->reason, sizeof r->reason, "the probe could not start: %s", r->setup_error);
        return;
    }
    for (size_t i = 0; i < r->np; i++) {
        const probe *p = &r->p[i];
        if (p->dev != DEV_MPS)
            continue;
        n++;
        if (!strcmp(p->result, "rejected") && !rej)
            rej = p;
        works += !strcmp(p->result, "works");
        crash += !strcmp(p->result, "crash");
        if (!strcmp(p->result, "unavailable") && !unav)
            unav = p;
    }
    if (rej) {
        r->verdict = "needed";
        snprintf(r->reason, sizeof r->reason, "libtorch %s's deserializer rejects mps (%s: %s)",
                 lg_libtorch_version(), rej->reader, rej->message);
    } else if (works == n && n > 0) {
        r->verdict = "removable";
        snprintf(r->reason, sizeof r->reason, "every libtorch reader loads straight onto mps "
                 "with the values written");
    } else if (crash) {
        r->verdict = "unknown";
        snprintf(r->reason, sizeof r->reason, "a probe onto mps crashed");
    } else {
        r->verdict = "unknown";
        snprintf(r->reason, sizeof r->reason, "mps is not available here (%s), and that does "
                 "not tell whether libtorch %s's deserializer accepts mps; run the probe on a "
                 "machine with MPS", unav ? unav->message : "no probe ran",
                 lg_libtorch_version());
    }
}

static void run_probes(probe_run *r)
{
    char dir[512], path[600];
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/lg-probe-XXXXXX", base);
    if (!mkdtemp(dir)) {
        snprintf(r->setup_error, MSG_MAX, "%s: %s", dir, strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/probe.ot", dir);
    if (setup(r, path) == 0)
        for (int i = 0; i < NREADERS; i++)
            for (int d = 0; d < NDEV; d++)
                probe_one(r, path, readers[i], d);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------ output */

static int print_json(const probe_run *r)
{
    json_t *o = json_object(), *devs = json_object(), *ps = json_array(), *v = json_object();
    json_object_set_new(o, "libtorch", json_string(lg_libtorch_version()));
    int known = strcmp(lg_libtorch_version(), "none") && !r->setup_error[0];
    for (int d = 0; d < NDEV && known; d++)
        json_object_set_new(devs, dev_names[d], json_boolean(r->have[d]));
    json_object_set_new(o, "devices", devs);
    for (size_t i = 0; i < r->np; i++) {
        json_t *p = json_object();
        json_object_set_new(p, "reader", json_string(r->p[i].reader));
        json_object_set_new(p, "device", json_string(dev_names[r->p[i].dev]));
        json_object_set_new(p, "result", json_string(r->p[i].result));
        json_object_set_new(p, "message", json_string(r->p[i].message));
        json_array_append_new(ps, p);
    }
    json_object_set_new(o, "probes", ps);
    json_object_set_new(v, "mps_workaround", json_string(r->verdict));
    json_object_set_new(v, "reason", json_string(r->reason));
    json_object_set_new(o, "verdict", v);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) {
        fputs("harness probe: out of memory\n", stderr);
        return -1;
    }
    puts(s);
    free(s);
    return 0;
}

#define TABLE_MSG 90

static void print_table(const probe_run *r)
{
    printf("libtorch  %s\n", lg_libtorch_version());
    if (r->setup_error[0])
        printf("devices   unknown\n");
    else if (strcmp(lg_libtorch_version(), "none"))
        printf("devices   cpu %s, cuda %s, mps %s\n", r->have[DEV_CPU] ? "yes" : "no",
               r->have[DEV_CUDA] ? "yes" : "no", r->have[DEV_MPS] ? "yes" : "no");
    if (r->np) {
        printf("\n%-14s %-7s %-12s %s\n", "reader", "device", "result", "message");
        for (size_t i = 0; i < r->np; i++) {
            const char *m = r->p[i].message;
            int cut = strlen(m) > TABLE_MSG; /* the whole line is in --json */
            if (!*m)
                printf("%-14s %-7s %s\n", r->p[i].reader, dev_names[r->p[i].dev], r->p[i].result);
            else
                printf("%-14s %-7s %-12s %.*s%s\n", r->p[i].reader, dev_names[r->p[i].dev],
                       r->p[i].result, TABLE_MSG, m, cut ? "..." : "");
        }
    }
    printf("\nmps workaround: %s\n  %s\n", r->verdict, r->reason);
}

enum { O_JSON = 1, O_TIMEOUT };

/* -1 when parsed, else the exit code (0 --help, 2 usage). */
static int parse_args(int argc, char **argv, probe_run *r)
{
    static const hx_opt opts[] = {
        {"json", 0, 0, O_JSON}, {"timeout", 0, 1, O_TIMEOUT}, {NULL, 0, 0, 0}};
    hx_args a;
    int id;
    char *end;
    hx_args_init(&a, "probe", usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0) {
        if (id == O_JSON) {
            r->json = 1;
            continue;
        }
        r->timeout = strtod(a.value, &end);
        if (*end || end == a.value || !(r->timeout > 0))
            return hx_args_error(&a, "--timeout wants seconds > 0, not '%s'", a.value);
    }
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a))
        return hx_args_error(&a, "unexpected argument '%s'", argv[a.next]);
    return -1;
}

int hx_cmd_probe(int argc, char **argv)
{
    probe_run r;
    memset(&r, 0, sizeof r);
    r.timeout = 60;
    int rc = parse_args(argc, argv, &r);
    if (rc >= 0)
        return rc;
    if (!strcmp(lg_libtorch_version(), "none")) {
        r.verdict = "unknown";
        snprintf(r.reason, sizeof r.reason, "this build has no libtorch");
    } else {
        run_probes(&r);
        set_verdict(&r);
    }
    if (r.json) {
        if (print_json(&r) != 0)
            return 1;
    } else {
        print_table(&r);
    }
    for (size_t i = 0; i < r.np; i++)
        if (!strcmp(r.p[i].result, "crash"))
            return 1;
    return r.setup_error[0] ? 1 : 0;
}
