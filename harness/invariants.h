/* One load, checked: build a store, snapshot it, load, and compute every
 * invariant of DESIGN.md from the result, the trace and the backend's own
 * counters. Used by `harness load` and by the case runner. */
#ifndef HX_CHECK_H
#define HX_CHECK_H

#include "loadgate/loadgate.h"
#include "mirror.h"
#include <stdio.h>

typedef enum {
    HX_INV_VIA_CPU, HX_INV_RESTORED, HX_INV_CONSISTENT, HX_INV_ATOMIC, HX_INV_VALUES,
    HX_INV_NO_LEAK, HX_INV_COUNT
} hx_inv;
typedef enum { HX_NA = 0, HX_PASS, HX_FAIL } hx_verdict;

const char *hx_inv_name(hx_inv i);            /* "via-cpu" */
int hx_inv_parse(const char *s, hx_inv *out); /* 0 on success */
const char *hx_verdict_name(hx_verdict v);    /* "pass" "fail" "n/a" */


typedef struct {
    lg_backend *backend;
    lg_device device;
    lg_load_options opt;
    const char *path;          /* the (possibly corrupted) file to load */
    const char *store_from;    /* the file the mirror store is built from;
                                  NULL = path. A corrupted file's store is
                                  mirrored from the original. */
    const hx_store_spec *store; /* NULL = plain mirror */
    /* Called after the store is built and snapshotted, right before the
     * load: the runner arms faults here, so that building the store does
     * not consume fault hits. The registry is cleared (lg_fault_clear)
     * just before the call. May be NULL. */
    void (*before_load)(void *ctx);
    void *ctx;
    /* Called after the load and its checks, before the store is freed
     * (`harness load --json` lists the variables from it). May be NULL. */
    void (*after_load)(void *ctx, lg_store *st);
    /* No store: deserialize the file's first tensor straight onto device
     * through its reader (lg_checkpoint_try_device), as the upgrade gate
     * asks. Every invariant is n/a. */
    int probe_only;
    /* No fault is armed for the load: the mirror is built over an open
     * of the file with the load's own options (crc included), and the
     * load reads through it (lg_store_load_open), so a header or a pickle
     * is parsed once. An open's fault points are not reached then, so a
     * run with faults leaves this 0. */
    int reuse_open;
    /* --paranoid: atomic and values compare every variable's bytes, not
     * digests of them (the state before the load is kept whole). */
    int paranoid;
} hx_load_req;

typedef struct {
    int ran;                       /* 0: the store could not even be set up */
    lg_status status;
    char message[2048];
    lg_device before, after;
    lg_policy policy_used;
    hx_verdict inv[HX_INV_COUNT];
    char why[HX_INV_COUNT][256];   /* for each failed invariant */
    lg_trace *trace;               /* owned; hx_outcome_free */
    lg_load_stats stats;
    /* bytes by [from type][to type] */
    uint64_t moved[LG_DEVICE_TYPE_COUNT][LG_DEVICE_TYPE_COUNT];
    uint64_t fault_fired;          /* injected faults that fired during the
                                      load, all points together. Every point
                                      is disarmed (lg_fault_disarm) right
                                      after the load; counters are kept. */
    uint64_t read_whole;           /* the file's tensors whose digest the
                                      load's own read gave (on_read); values
                                      reads the others from the file again */
} hx_outcome;

/* Runs the load and fills out. Returns LG_OK if the load ran (whatever
 * its status), or an error when the store could not be set up (message in
 * lg_error_message()). */
lg_status hx_check_load(const hx_load_req *req, hx_outcome *out);
void hx_outcome_free(hx_outcome *o);



/* Does the device need the MPS workaround under this backend? (via-cpu
 * invariant applies) */
int hx_needs_workaround(lg_backend *b, lg_device d);
#endif
