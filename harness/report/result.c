/* The result object of one case (result.h). */
#include "report/result.h"
#include "corrupt/corrupt.h"
#include "report/outcome_json.h"
#include "util/error.h"
#include "util/json.h"

#include <inttypes.h>
#include <limits.h>

/* Sets o[key] = v, taking v; -1 when v is NULL (out of memory). */
static int put(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

static const char *outcome_kind_name(hx_outcome_kind k)
{
    return k == HX_EXPECT_OK ? "ok" : k == HX_EXPECT_ERROR ? "error" : "any";
}

hx_outcome_kind hx_wanted_outcome(const hx_expect *e)
{
    if (e->outcome == HX_EXPECT_OK && (e->has_error || e->message))
        return HX_EXPECT_ERROR;
    return e->outcome;
}

static json_t *expected_json(const hx_expect *e, hx_outcome_kind want)
{
    json_t *o = json_object(), *inv = json_null();
    if (!o)
        return NULL;
    if (e->has_invariants) {
        inv = json_array();
        for (int i = 0; inv && i < HX_INV_COUNT; i++)
            if (e->invariants[i] && json_array_append_new(inv, json_string(hx_inv_name((hx_inv)i))))
                break;
    }
    int bad = put(o, "outcome", json_string(outcome_kind_name(want)));
    bad |= put(o, "error", e->has_error ? json_string(lg_status_name(e->error)) : json_null());
    bad |= put(o, "message", hx_json_str(e->message));
    bad |= put(o, "invariants", inv);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *params_json(const hx_case *c, uint64_t k)
{
    json_t *p = json_object();
    for (size_t i = 0; p && i < c->nparams; i++) {
        if (put(p, c->params[i].key, hx_json_str(c->params[i].value))) {
            json_decref(p);
            return NULL;
        }
    }
    if (p && k && put(p, "k", json_sprintf("%" PRIu64, k))) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* The case's tags, for index.html's tag filter. */
static json_t *tags_json(const hx_case *c)
{
    json_t *t = json_array();
    for (size_t i = 0; t && i < c->ntags; i++) {
        if (json_array_append_new(t, hx_json_str(c->tags[i]))) {
            json_decref(t);
            return NULL;
        }
    }
    return t;
}

static json_t *invariants_na(void)
{
    static const hx_verdict na[HX_INV_COUNT] = {HX_NA};
    return hx_outcome_verdicts_json(na);
}

const char *hx_case_backend(const hx_case *c, const char *override)
{
    return override ? override : c->backend[0] ? c->backend : "sim";
}

/* "corrupt" and "corrupt_class" of a corrupted case: the reliability
 * table groups cases by the class. */
static int put_corruption(json_t *r, const hx_case *c)
{
    if (c->corrupt.kind == HX_CORRUPT_NONE)
        return 0;
    hx_corrupt label = c->corrupt;
    hx_corrupt_label(&label);
    int bad = put(r, "corrupt", hx_json_str(label.label));
    bad |= put(r, "corrupt_class",
               json_string(hx_corrupt_class_name(hx_corrupt_class_of(&c->corrupt))));
    return bad;
}

json_t *hx_result_make(const hx_case *c, const char *id, size_t index, const char *backend,
                       uint64_t k, hx_status st, const char *reason)
{
    char dev[LG_DEVICE_NAME_MAX];
    json_t *r = json_object();
    if (!r)
        return NULL;
    int bad = put(r, "id", hx_json_str(id ? id : c->id));
    bad |= put(r, "suite", hx_json_str(c->suite));
    bad |= put(r, "name", hx_json_str(c->name));
    bad |= put(r, "index", json_integer((json_int_t)index));
    char src[PATH_MAX + 24]; /* the file's name need not be UTF-8: hx_json_str mends it */
    snprintf(src, sizeof src, "%s:%d", c->src ? c->src : "?", c->line);
    bad |= put(r, "source", hx_json_str(src));
    bad |= put(r, "params", params_json(c, k));
    bad |= put(r, "tags", tags_json(c));
    bad |= put(r, "status", json_string(hx_status_name(st)));
    bad |= put(r, "reason", hx_json_str(reason));
    bad |= put(r, "backend", json_string(backend));
    bad |= put(r, "device", json_string(lg_device_format(c->device, dev)));
    bad |= put(r, "policy", json_string(lg_policy_name(c->policy)));
    bad |= put_corruption(r, c);
    bad |= put(r, "expected", expected_json(&c->expect, hx_wanted_outcome(&c->expect)));
    bad |= put(r, "actual", json_pack("{s:n, s:n, s:n, s:n}", "outcome", "error", "message",
                                      "signal"));
    bad |= put(r, "invariants", invariants_na());
    bad |= put(r, "invariant_failures", json_object());
    bad |= put(r, "trace", json_array());
    bad |= put(r, "moved", json_object());
    bad |= put(r, "policy_used", json_null());
    bad |= put(r, "faults", json_array());
    bad |= put(r, "duration_s", json_real(0));
    bad |= put(r, "stderr", json_null());
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

lg_status hx_result_fill(json_t *r, const hx_outcome *out, size_t trace_max)
{
    size_t dropped = 0;
    int ok = out->status == LG_OK;
    int bad = put(r, "invariants", hx_outcome_verdicts_json(out->inv));
    bad |= put(r, "invariant_failures", hx_outcome_failures_json(out));
    bad |= put(r, "actual", json_pack("{s:s, s:o, s:o, s:n}", "outcome", ok ? "ok" : "error",
                                      "error", ok ? json_null() : json_string(lg_status_name(out->status)),
                                      "message", ok ? json_null() : hx_json_str(out->message),
                                      "signal"));
    bad |= put(r, "trace", hx_outcome_trace_json(out->trace, trace_max, &dropped));
    if (dropped)
        bad |= put(r, "trace_dropped", json_integer((json_int_t)dropped));
    bad |= put(r, "moved", hx_outcome_moved_json(out));
    bad |= put(r, "policy_used", json_string(lg_policy_name(out->policy_used)));
    return bad ? hx_err(LG_E_NOMEM, "out of memory while recording the outcome") : LG_OK;
}
