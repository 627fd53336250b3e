/* The probe's driver (probe.h): a setup child writes the sample files and
 * says which devices the backend claims; a check child per claimed device
 * tries 256 bytes there before the device is trusted; then one child per
 * reader and device loads the sample straight onto it. The parent never
 * initialises libtorch (no thread pool, no CUDA context) and so can fork
 * safely; it only reads the children's lines and classifies them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "probe/internal.h"
#include "run/child.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const hx_probe_readers[HX_PROBE_NREADERS] = {"torch-archive", "torchscript",
                                                         "torch-params", "torch-pickle"};
const char *const hx_probe_devices[HX_PROBE_NDEV] = {"cpu", "cuda", "mps"};

/* ------------------------------------------------------ children */

typedef struct {
    void (*fn)(void *job, char *line);
    hx_probe_job *job;
} child_job;

/* In the child: fn's line, written to the result pipe. */
static int child_main(void *p, int fd)
{
    const child_job *j = p;
    char line[HX_PROBE_LINE] = "";
    j->fn(j->job, line);
    size_t n = strlen(line);
    return write(fd, line, n) == (ssize_t)n ? 0 : 3;
}

/* Runs fn(job, line) in a forked child (run/child.h) that may take the
 * probe's timeout; the child's line comes back in out (HX_PROBE_LINE
 * bytes). Returns 0 with a line, else -1 with what happened in out. */
static int in_child(const hx_probe_state *s, void (*fn)(void *, char *), hx_probe_job *job,
                    char *out)
{
    hx_child c;
    hx_child_opts o = {.timeout = s->o->timeout > 0 ? s->o->timeout : 60};
    child_job j = {fn, job};
    fflush(NULL);
    if (hx_child_fork(&c, &o, child_main, &j) != LG_OK) {
        snprintf(out, HX_PROBE_LINE, "%s", hx_errmsg());
        return -1;
    }
    hx_child_wait(&c);
    const char *line = hx_child_output(&c, NULL);
    int rc = !hx_child_failed(&c) && hx_child_exit_code(&c) == 0 && line ? 0 : -1;
    if (rc == 0)
        snprintf(out, HX_PROBE_LINE, "%s", line);
    else
        hx_child_describe(&c, out, HX_PROBE_LINE);
    hx_child_free(&c);
    return rc;
}

/* ------------------------------------------------------ steps */

static int setup(hx_probe_state *s)
{
    hx_probe_job j = {s, -1, 0};
    char out[HX_PROBE_LINE];
    int *h = s->have;
    if (in_child(s, hx_probe_setup_body, &j, out) != 0) {
        snprintf(s->setup_error, HX_PROBE_MSG, "setup: %s", out);
        return -1;
    }
    if (sscanf(out, "%d %d %d", &h[LG_DEV_CPU], &h[LG_DEV_CUDA], &h[LG_DEV_MPS]) != 3) {
        const char *m = strncmp(out, "error\t", 6) ? out : out + 6;
        snprintf(s->setup_error, HX_PROBE_MSG, "setup: %.*s", (int)strcspn(m, "\n"), m);
        return -1;
    }
    return 0;
}

/* Is the device the backend claims really usable? An absent device needs
 * no check; a claimed one that fails 256 bytes is broken. */
static void check_device(hx_probe_state *s, int dev)
{
    hx_probe_job j = {s, -1, dev};
    char out[HX_PROBE_LINE];
    char *msg = s->check_msg[dev];
    if (!s->have[dev]) {
        s->check[dev] = "unavailable";
        snprintf(msg, HX_PROBE_MSG, "%s is not available (%s backend)", hx_probe_devices[dev],
                 s->sim ? "sim" : "torch");
    } else if (in_child(s, hx_probe_check_body, &j, out) != 0) {
        s->check[dev] = "crash";
        snprintf(msg, HX_PROBE_MSG, "device check: %s", out);
    } else if (!strncmp(out, "ok\t", 3)) {
        s->check[dev] = "ok";
    } else {
        s->check[dev] = "broken";
        const char *m = strncmp(out, "broken\t", 7) ? out : out + 7;
        snprintf(msg, HX_PROBE_MSG, "%s claims to be available, but %s", hx_probe_devices[dev],
                 m);
    }
}

/* The unpickler's own device check (libtorch 1.13: "supported devices
 * include CPU, CUDA and HPU, however got MPS") refuses before it asks
 * whether the device exists: that is a rejection even here. */
static int deserializer_refusal(const char *msg)
{
    return strstr(msg, "supported devices include") || strstr(msg, "however got");
}

/* What the reader's child said, classified. A load that succeeds with
 * other values, or onto another device, is a rejection too: direct
 * loading does not work. */
static void classify(hx_probe_state *s, hx_probe_cell *p, const char *out)
{
    char status[32] = "";
    int verified = 0, used = 0;
    if (sscanf(out, "%31[^\t]\t%d\t%n", status, &verified, &used) < 2 || !used) {
        p->result = "crash";
        snprintf(p->message, HX_PROBE_MSG, "unreadable result: %.400s", out);
        return;
    }
    snprintf(p->message, HX_PROBE_MSG, "%s", out + used);
    if (verified)
        p->result = "works";
    else if (!strcmp(status, "LG_OK") || deserializer_refusal(p->message) || s->have[p->dev])
        p->result = "rejected";
    else
        p->result = "unavailable";
}

static void probe_one(hx_probe_state *s, int reader, int dev)
{
    hx_probe_cell *p = &s->p[s->np++];
    hx_probe_job j = {s, reader, dev};
    char out[HX_PROBE_LINE];
    p->reader = reader;
    p->dev = dev;
    if (!strcmp(s->check[dev], "broken") || !strcmp(s->check[dev], "crash")) {
        /* nothing read there could be trusted */
        p->result = s->check[dev];
        snprintf(p->message, HX_PROBE_MSG, "%s", s->check_msg[dev]);
    } else if (in_child(s, hx_probe_read_body, &j, out) != 0) {
        p->result = "crash";
        snprintf(p->message, HX_PROBE_MSG, "%s", out);
    } else {
        classify(s, p, out);
    }
}

static void run_all(hx_probe_state *s)
{
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[700];
    snprintf(s->dir, sizeof s->dir, "%s/lg-probe-XXXXXX", base);
    if (!mkdtemp(s->dir)) {
        snprintf(s->setup_error, HX_PROBE_MSG, "%s: %s", s->dir, strerror(errno));
        return;
    }
    if (setup(s) == 0) {
        for (int d = 0; d < HX_PROBE_NDEV; d++)
            check_device(s, d);
        for (int r = 0; r < HX_PROBE_NREADERS; r++)
            for (int d = 0; d < HX_PROBE_NDEV; d++)
                probe_one(s, r, d);
    }
    for (int r = 0; r < HX_PROBE_NREADERS; r++) {
        hx_probe_sample_path(s, r, path, sizeof path);
        unlink(path);
    }
    rmdir(s->dir);
}

/* ------------------------------------------------------ the API */

json_t *hx_probe_run(const hx_probe_opts *o)
{
    hx_probe_state *s = calloc(1, sizeof *s);
    if (!s) {
        hx_err(LG_E_NOMEM, "out of memory");
        return NULL;
    }
    s->o = o;
    s->sim = o->backend && !strcmp(o->backend, "sim");
    /* The torch module loaded once, here, as libtorch was when the program
     * linked it: its children inherit it instead of each loading it. Loading
     * runs libtorch's static initialisers only, so forking stays safe. */
    if (!s->sim)
        lg_torch_module_load();
    if (s->sim || strcmp(lg_libtorch_version(), "none"))
        run_all(s);
    json_t *j = hx_probe_json(s);
    free(s);
    if (!j)
        hx_err(LG_E_NOMEM, "out of memory");
    return j;
}

int hx_probe_gate(const json_t *probe)
{
    json_t *g = json_object_get(json_object_get(probe, "verdict"), "gate");
    return json_is_integer(g) ? (int)json_integer_value(g) : HX_GATE_UNKNOWN;
}

int hx_probe_crashed(const json_t *probe)
{
    size_t i;
    json_t *p;
    if (json_is_string(json_object_get(probe, "error")))
        return 1;
    json_array_foreach(json_object_get(probe, "probes"), i, p) {
        const char *r = json_string_value(json_object_get(p, "result"));
        if (r && !strcmp(r, "crash"))
            return 1;
    }
    return 0;
}
