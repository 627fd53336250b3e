/* The JSON encoding of a load's outcome (outcome_json.h). */
#include "report/outcome_json.h"
#include "util/json.h"

#include <stdio.h>

/* Sets o[key] = v, taking v; -1 when v is NULL (out of memory). */
static int put(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *event_json(const lg_event *e)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    return json_pack("{s:I, s:s, s:o, s:s, s:s, s:I, s:b, s:o}", "seq", (json_int_t)e->seq, "op",
                     lg_op_name(e->op), "tensor", hx_json_str(e->tensor), "from",
                     lg_device_format(e->from, a), "to", lg_device_format(e->to, b), "bytes",
                     (json_int_t)e->bytes, "ok", e->ok, "detail",
                     e->detail[0] ? hx_json_str(e->detail) : json_null());
}

json_t *hx_outcome_trace_json(const lg_trace *t, size_t max, size_t *dropped)
{
    size_t n = lg_trace_count(t), keep = n < max ? n : max;
    json_t *arr = json_array();
    if (dropped)
        *dropped = n - keep;
    for (size_t i = 0; arr && i < keep; i++) {
        if (json_array_append_new(arr, event_json(lg_trace_event(t, i)))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *hx_outcome_verdicts_json(const hx_verdict v[HX_INV_COUNT])
{
    json_t *o = json_object();
    for (int i = 0; o && i < HX_INV_COUNT; i++) {
        if (put(o, hx_inv_name((hx_inv)i), json_string(hx_verdict_name(v[i])))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *hx_outcome_failures_json(const hx_outcome *out)
{
    json_t *o = json_object();
    for (int i = 0; o && i < HX_INV_COUNT; i++) {
        if (out->inv[i] == HX_FAIL && put(o, hx_inv_name((hx_inv)i), hx_json_str(out->why[i]))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *hx_outcome_moved_json(const hx_outcome *out)
{
    static const char *const types[LG_DEVICE_TYPE_COUNT] = {"cpu", "cuda", "mps"};
    json_t *m = json_object();
    for (int f = 0; m && f < LG_DEVICE_TYPE_COUNT; f++) {
        for (int t = 0; t < LG_DEVICE_TYPE_COUNT; t++) {
            char key[16];
            if (!out->moved[f][t])
                continue;
            snprintf(key, sizeof key, "%s->%s", types[f], types[t]);
            if (put(m, key, json_integer((json_int_t)out->moved[f][t]))) {
                json_decref(m);
                return NULL;
            }
        }
    }
    return m;
}
