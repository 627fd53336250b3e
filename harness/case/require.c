/* The `requires:` grammar and its evaluation (require.h). */
#include "case/require.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ_MAX 256 /* longer than any valid entry */

int hx_torch_built(void)
{
    return strstr(lg_backends_built(), "torch") != NULL;
}

/* Why the torch backend is missing: "not in this build" (no libtorch at
 * all), or where its module was looked for, or dlerror()'s text. */
static void torch_missing(char *buf, size_t n)
{
    if (!lg_torch_modules(NULL, 0) || lg_torch_module_load() == LG_OK)
        snprintf(buf, n, "not in this build");
    else
        snprintf(buf, n, "%s", lg_error_message());
}

/* X, X.Y or X.Y.Z (a trailing dot is tolerated), digits only. */
static int version_parse(const char *v, unsigned long *out)
{
    int parts = 0;
    memset(out, 0, HX_REQ_PARTS * sizeof *out);
    while (*v >= '0' && *v <= '9') {
        char *end;
        errno = 0;
        unsigned long x = strtoul(v, &end, 10);
        if (errno || parts == 3)
            return -1;
        out[parts++] = x;
        v = end;
        if (*v != '.')
            break;
        v++;
    }
    return parts >= 1 && !*v ? 0 : -1;
}

/* "libtorch" OP VERSION, OP tried in this order so that >= is not > =. */
static int libtorch_parse(const char *t, hx_require *r)
{
    static const struct {
        const char *op;
        hx_req_cmp cmp;
    } ops[] = {{">=", HX_REQ_GE}, {"<=", HX_REQ_LE}, {"==", HX_REQ_EQ},
               {">", HX_REQ_GT},  {"<", HX_REQ_LT},  {"=", HX_REQ_EQ}};
    if (strncmp(t, "libtorch", 8))
        return -1;
    t += 8;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].op);
        if (strncmp(t, ops[i].op, n))
            continue;
        r->kind = HX_REQ_LIBTORCH;
        r->cmp = ops[i].cmp;
        return version_parse(t + n, r->version);
    }
    return -1;
}

static lg_status unknown(const char *text)
{
    return hx_err(LG_E_INVALID,
                  "unknown requirement '%s' (torch, mps, cuda, cuda:N, no-mps, no-cuda, "
                  "no-torch, libtorch>=X.Y, libtorch<X.Y)", text);
}

lg_status hx_require_parse(const char *text, hx_require *out)
{
    char t[REQ_MAX];
    size_t j = 0;
    memset(out, 0, sizeof *out);
    for (const char *s = text; *s; s++)
        if (*s != ' ' && j + 1 < sizeof t)
            t[j++] = *s;
        else if (*s != ' ')
            return unknown(text);
    t[j] = 0;
    out->negated = !strncmp(t, "no-", 3);
    const char *what = out->negated ? t + 3 : t;
    if (!strcmp(what, "torch")) {
        out->kind = HX_REQ_TORCH;
        return LG_OK;
    }
    if (lg_device_parse(what, &out->device) == LG_OK) {
        out->kind = HX_REQ_DEVICE;
        return LG_OK;
    }
    if (!out->negated && libtorch_parse(t, out) == 0)
        return LG_OK;
    return unknown(text);
}

int hx_require_needs_backend(const hx_require *r)
{
    return r->kind == HX_REQ_DEVICE;
}

/* Numerically, part by part; a suffix such as "+cpu" or "a0" ends the
 * linked version. */
static int version_cmp(const char *have, const unsigned long *want)
{
    for (int i = 0; i < HX_REQ_PARTS; i++) {
        char *end;
        unsigned long x = strtoul(have, &end, 10);
        if (x != want[i])
            return x < want[i] ? -1 : 1;
        have = *end == '.' ? end + 1 : end + strlen(end);
    }
    return 0;
}

static int libtorch_met(const hx_require *r, const char *text, char *why, size_t n)
{
    const char *have = lg_libtorch_version();
    if (!strcmp(have, "none")) {
        snprintf(why, n, "requires %s: libtorch is not in this build", text);
        return 1;
    }
    int c = version_cmp(have, r->version);
    int met = r->cmp == HX_REQ_GE ? c >= 0 : r->cmp == HX_REQ_LE ? c <= 0
            : r->cmp == HX_REQ_GT ? c > 0  : r->cmp == HX_REQ_LT ? c < 0 : c == 0;
    if (met)
        return 0;
    snprintf(why, n, "requires %s: libtorch is %s", text, have);
    return 1;
}

/* The entry without its no-: 0 met, 1 unmet with the reason. */
static int positive_met(const hx_require *r, const char *text, lg_backend *b, char *why,
                        size_t n)
{
    char buf[1024];
    switch (r->kind) {
    case HX_REQ_TORCH:
        if (hx_torch_built())
            return 0;
        torch_missing(buf, sizeof buf);
        snprintf(why, n, "requires torch: %s", buf);
        return 1;
    case HX_REQ_LIBTORCH:
        return libtorch_met(r, text, why, n);
    case HX_REQ_DEVICE:
        break;
    }
    if (b && lg_backend_has_device(b, r->device))
        return 0;
    snprintf(why, n, "requires %s: not available in this build or machine", text);
    return 1;
}

int hx_require_eval(const hx_require *r, const char *text, lg_backend *b, char *why, size_t n)
{
    if (!r->negated)
        return positive_met(r, text, b, why, n);
    const char *what = strncmp(text, "no-", 3) ? text : text + 3;
    if (positive_met(r, what, b, why, n)) {
        why[0] = 0;
        return 0;
    }
    snprintf(why, n, "requires %s: %s is there", text, what);
    return 1;
}

int hx_require_check(const char *text, lg_backend *b, char *why, size_t n)
{
    hx_require r;
    if (hx_require_parse(text, &r) != LG_OK) {
        snprintf(why, n, "unknown requirement \"%s\"", text);
        return -1;
    }
    return hx_require_eval(&r, text, b, why, n);
}

int hx_case_skips_early(const hx_case *c, const char *backend, char *why, size_t n)
{
    if (c->skip) {
        snprintf(why, n, "%s", c->skip);
        return 1;
    }
    if (strcmp(backend, "torch"))
        return 0; /* sim overrides come first there, in the child */
    for (size_t i = 0; i < c->nrequires; i++) {
        hx_require q;
        if (hx_require_parse(c->requires[i], &q) != LG_OK || hx_require_needs_backend(&q))
            return 0; /* the child answers (a device) or fails it (not a requirement) */
        if (hx_require_eval(&q, c->requires[i], NULL, why, n))
            return 1;
    }
    if (hx_torch_built() || lg_torch_modules(NULL, 0))
        return 0; /* a missing module fails the case, with its message (run/exec.c) */
    snprintf(why, n, "backend torch: not in this build");
    return 1;
}

/* ------------------------------------------------------------ the memo */

/* Did requirement text give the skip reason why ("requires TEXT: ...")? */
static int gave(const char *why, const char *text)
{
    size_t k = strlen(text);
    return !strncmp(why, "requires ", 9) && !strncmp(why + 9, text, k) && why[9 + k] == ':';
}

/* The entry of text in m, or -1. */
static long memo_find(const hx_require_memo *m, const char *text)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].text, text))
            return (long)i;
    return -1;
}

static void memo_put(hx_require_memo *m, const char *text, const char *why)
{
    if (memo_find(m, text) >= 0 || m->n == HX_REQUIRE_MEMO_MAX)
        return;
    char *t = strdup(text), *w = why ? strdup(why) : NULL;
    if (!t || (why && !w)) { /* out of memory: nothing learnt */
        free(t);
        free(w);
        return;
    }
    m->e[m->n].text = t;
    m->e[m->n++].why = w;
}

void hx_require_memo_learn(hx_require_memo *m, const hx_case *c, const char *why)
{
    size_t upto = c->nrequires; /* the entries that were met */
    if (why) {
        for (upto = 0; upto < c->nrequires && !gave(why, c->requires[upto]); upto++)
            ;
        if (upto == c->nrequires)
            return; /* a skip of another kind */
    }
    for (size_t i = 0; i <= upto && i < c->nrequires; i++) {
        hx_require q;
        if (hx_require_parse(c->requires[i], &q) == LG_OK && hx_require_needs_backend(&q))
            memo_put(m, c->requires[i], i < upto ? NULL : why);
    }
}

int hx_require_memo_skips(const hx_require_memo *m, const hx_case *c, char *why, size_t n)
{
    for (size_t i = 0; i < c->nrequires; i++) {
        hx_require q;
        if (hx_require_parse(c->requires[i], &q) != LG_OK)
            return 0;
        if (!hx_require_needs_backend(&q)) {
            if (hx_require_eval(&q, c->requires[i], NULL, why, n))
                return 1;
            continue;
        }
        long k = memo_find(m, c->requires[i]);
        if (k < 0)
            return 0; /* not answered yet */
        if (m->e[k].why) {
            snprintf(why, n, "%s", m->e[k].why);
            return 1;
        }
    }
    return 0;
}

void hx_require_memo_free(hx_require_memo *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].text);
        free(m->e[i].why);
    }
    m->n = 0;
}
