/* The `requires:` entries of a case (docs/cases.md, "requires"): one
 * grammar, read by the case-file validator (errors at file:line:col) and
 * by the runner (met, or a skip with its reason).
 *
 *   torch                 the torch backend is built
 *   cpu, cuda, cuda:N, mps  the case's backend has that device
 *   no-X (X one of those) X does not hold
 *   libtorch OP V         the linked libtorch's version compares so;
 *                         OP one of >= <= == > < =, V is X, X.Y or X.Y.Z
 *
 * Spaces are ignored anywhere: "libtorch >= 2.1" is libtorch>=2.1. */
#ifndef HX_CASE_REQUIRE_H
#define HX_CASE_REQUIRE_H

#include "case/case.h"
#include "loadgate/loadgate.h"

#include <stddef.h>

typedef enum { HX_REQ_TORCH, HX_REQ_DEVICE, HX_REQ_LIBTORCH } hx_req_kind;
typedef enum { HX_REQ_GE, HX_REQ_LE, HX_REQ_EQ, HX_REQ_GT, HX_REQ_LT } hx_req_cmp;

/* X.Y.Z as written; a linked libtorch's version may have a fourth part,
 * compared against 0. */
#define HX_REQ_PARTS 4

typedef struct {
    hx_req_kind kind;
    int negated;        /* no-X */
    lg_device device;   /* HX_REQ_DEVICE */
    hx_req_cmp cmp;     /* HX_REQ_LIBTORCH */
    unsigned long version[HX_REQ_PARTS]; /* missing parts are 0 */
} hx_require;

/* Parses one entry. LG_E_INVALID, with hx_errmsg() naming the entry and
 * what is allowed, when it is none of the above. */
lg_status hx_require_parse(const char *text, hx_require *out);
/* Does r need the case's backend to be answered (a device)? */
int hx_require_needs_backend(const hx_require *r);
/* Is r met here? b: the case's backend, for devices (NULL: none is).
 * Returns 0 when met, 1 when not, with the skip reason in why, e.g.
 * "requires mps: not available in this build or machine"; text is the
 * entry as the case holds it (without spaces), quoted in the reason. */
int hx_require_eval(const hx_require *r, const char *text, lg_backend *b, char *why, size_t n);
/* Parse and evaluate: 0 met, 1 unmet (a skip), -1 not a requirement (a
 * failure, why: unknown requirement "TEXT"). */
int hx_require_check(const char *text, lg_backend *b, char *why, size_t n);
/* Whether the torch backend is built into this harness. */
int hx_torch_built(void);

/* Can c be known to skip without opening its backend (a spawned child
 * need not start)? backend: the one the case runs on. Its `skip:`, or, on
 * torch, a requirement that needs no backend (torch, libtorch…) unmet
 * before any device requirement, or no torch in this build. 1 with the
 * reason in why, as running the case would give it; else 0. */
int hx_case_skips_early(const hx_case *c, const char *backend, char *why, size_t n);

/* What the cases of a run found of the torch backend's devices
 * (docs/runner.md, "Skips"): each device requirement met, or unmet and
 * why, as a child answered it. A case on torch that is then known to
 * skip starts no process: a spawned one loads libtorch only to find, say,
 * no cuda. Devices do not come and go during a run. Zeroed to start. */
#define HX_REQUIRE_MEMO_MAX 64
typedef struct {
    size_t n;
    struct {
        char *text; /* the entry, as the case holds it */
        char *why;  /* NULL: met */
    } e[HX_REQUIRE_MEMO_MAX];
} hx_require_memo;

/* Learns from a result of c on torch: a skip with its reason why, or
 * (why NULL) a run that went past its requirements. Nothing is learnt
 * from a skip that no requirement of c gave. */
void hx_require_memo_learn(hx_require_memo *m, const hx_case *c, const char *why);
/* 1, with the reason in why, when c on torch is known to skip: its
 * requirements, in order, met or known met up to one unmet; else 0. */
int hx_require_memo_skips(const hx_require_memo *m, const hx_case *c, char *why, size_t n);
void hx_require_memo_free(hx_require_memo *m);
#endif
