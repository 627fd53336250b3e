/* The upgrade gate (docs/cli.md, `harness probe`): does libtorch's own
 * deserializer load straight onto each device yet, reader by reader, and
 * so can tch-rs's MPS workaround go, and for which file extensions?
 *
 * The answer is one JSON object, the one `harness probe --json` prints
 * and the one report.json keeps at environment.probe (docs/report.md):
 *   {libtorch, backend, sim, devices, device_checks,
 *    probes: [{reader, device, result, message}],
 *    verdict: {mps_workaround, reason, gate, per_reader, extensions}}
 *
 * Every step that touches a backend runs in a forked child (run/child.h),
 * so that a crash or a hang is reported rather than suffered. Functions
 * that can fail return lg_status or NULL with a message in hx_errmsg(). */
#ifndef HX_PROBE_H
#define HX_PROBE_H

#include "loadgate/loadgate.h"

#include <jansson.h>
#include <stddef.h>

/* The exit codes of `harness probe --gate`, from the verdict. */
enum {
    HX_GATE_REMOVABLE = 0, /* every reader tch-rs uses loads straight onto mps */
    HX_GATE_NEEDED = 1,    /* one of them is refused mps: the workaround stays */
    HX_GATE_UNKNOWN = 3,   /* not decidable here: no mps, mps broken, a crash */
};

typedef struct {
    const char *backend;         /* "torch" (NULL: the same) or "sim" */
    double timeout;              /* seconds each child may take; 0: 60 */
    const char *const *sim;      /* sim profile settings, hx_probe_sim_check's syntax */
    size_t nsim;
} hx_probe_opts;

/* Checks one sim profile setting, "[READER:]DEVICE.KEY=VALUE" (READER one
 * of the probe's readers: the setting then holds for that reader's probes
 * only), against the sim backend's own profile (lg_sim_profile_set).
 * LG_OK, or LG_E_INVALID with the reason in hx_errmsg(). */
lg_status hx_probe_sim_check(const char *setting);

/* Runs every probe and returns the object above (a new reference), or
 * NULL when out of memory. A probe that crashes, or a setup that fails,
 * is part of the answer, not an error. */
json_t *hx_probe_run(const hx_probe_opts *o);

/* The gate's exit code for a probe object (HX_GATE_UNKNOWN when it has no
 * verdict). */
int hx_probe_gate(const json_t *probe);
/* Did any probe of the object crash, or the probe fail to start? */
int hx_probe_crashed(const json_t *probe);

/* The libtorch readers probed, in order: torch-archive (InputArchive),
 * torchscript (jit::load), torch-params (jit::_load_parameters),
 * torch-pickle (pickle_load). */
#define HX_PROBE_NREADERS 4
extern const char *const hx_probe_readers[HX_PROBE_NREADERS];
#endif
