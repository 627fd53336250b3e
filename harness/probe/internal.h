/* The probe's parts (probe.h): probe.c runs the children and classifies
 * what they say, body.c is what the children do, sim.c applies --sim
 * settings, verdict.c turns the results into the verdict and the JSON
 * object. */
#ifndef HX_PROBE_INTERNAL_H
#define HX_PROBE_INTERNAL_H

#include "probe/probe.h"

#define HX_PROBE_MSG 512
#define HX_PROBE_NDEV LG_DEVICE_TYPE_COUNT
/* The device check's allocation: what a GitHub-hosted macOS runner's MPS
 * refuses (actions/runner-images#9918). */
#define HX_PROBE_CHECK_BYTES 256

extern const char *const hx_probe_devices[HX_PROBE_NDEV]; /* "cpu" "cuda" "mps" */

/* One reader on one device. result: works rejected unavailable broken crash. */
typedef struct {
    int reader; /* index into hx_probe_readers */
    int dev;    /* lg_device_type */
    const char *result;
    char message[HX_PROBE_MSG];
} hx_probe_cell;

typedef struct {
    const hx_probe_opts *o;
    int sim;                     /* the sim backend stands in for libtorch */
    char dir[512];               /* where the sample files are written */
    int have[HX_PROBE_NDEV];     /* the backend says the device is available */
    const char *check[HX_PROBE_NDEV]; /* device check: ok broken unavailable crash */
    char check_msg[HX_PROBE_NDEV][HX_PROBE_MSG];
    char setup_error[HX_PROBE_MSG];
    hx_probe_cell p[HX_PROBE_NREADERS * HX_PROBE_NDEV];
    size_t np;
} hx_probe_state;

/* body.c: in a child, each fills line (HX_PROBE_LINE bytes):
 *   setup:  "<cpu> <cuda> <mps>" device availability, 0 or 1, after
 *           writing the sample files; or "error\t<message>"
 *   check:  "ok\t", or "broken\t<message>"
 *   read:   "<status>\t<verified>\t<message>" */
#define HX_PROBE_LINE (HX_PROBE_MSG + 64)
typedef struct {
    const hx_probe_state *s;
    int reader; /* -1 for setup and check */
    int dev;
} hx_probe_job;
void hx_probe_setup_body(void *job, char *line);
void hx_probe_check_body(void *job, char *line);
void hx_probe_read_body(void *job, char *line);
/* The sample file reader i reads, in s->dir. */
void hx_probe_sample_path(const hx_probe_state *s, int reader, char *buf, size_t n);

/* sim.c: the settings of o that hold for reader (-1: those for every
 * reader only), applied to a sim backend. LG_OK, or the library's error. */
lg_status hx_probe_sim_apply(lg_backend *b, const hx_probe_opts *o, int reader);

/* verdict.c: the probe object of probe.h (a new reference; NULL when out
 * of memory). */
json_t *hx_probe_json(const hx_probe_state *s);
#endif
