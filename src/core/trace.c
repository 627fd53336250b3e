/* The trace: every event that moves bytes or changes a device, in order. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct lg_trace {
    lg_event *ev;      /* each event's tensor name is its own copy (or "") */
    size_t n, cap;
    uint64_t seq;
    int overflow; /* an event could not be recorded (out of memory) */
};

static const char *const op_names[] = {
    "deserialize", "copy", "move", "alloc", "free", "set_device", "fault",
};

const char *lg_op_name(lg_op op)
{
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "?";
}

lg_status lg_trace_new(lg_trace **out)
{
    /* Plain calloc: a trace is the observer, not the code under test, so
     * it does not go through the mem.alloc fault point. */
    lg_trace *t = calloc(1, sizeof *t);
    if (!t)
        return lg__err(LG_E_NOMEM, "out of memory creating a trace");
    *out = t;
    return LG_OK;
}

static const char no_name[] = "";

static void free_names(lg_trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->ev[i].tensor != no_name)
            free((char *)t->ev[i].tensor);
}

void lg_trace_free(lg_trace *t)
{
    if (!t)
        return;
    free_names(t);
    free(t->ev);
    free(t);
}

void lg_trace_clear(lg_trace *t)
{
    free_names(t);
    t->n = 0;
    t->seq = 0;
    t->overflow = 0;
}

size_t lg_trace_count(const lg_trace *t) { return t ? t->n : 0; }

int lg_trace_lost(const lg_trace *t) { return t && t->overflow; }

const lg_event *lg_trace_event(const lg_trace *t, size_t i)
{
    return t && i < t->n ? &t->ev[i] : NULL;
}

void lg__trace_add(lg_trace *t, lg_op op, const char *tensor, lg_device from, lg_device to,
                   uint64_t bytes, int ok, const char *detail)
{
    if (!t)
        return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        lg_event *ev = realloc(t->ev, cap * sizeof *ev);
        if (!ev) {
            t->overflow = 1;
            return;
        }
        t->ev = ev;
        t->cap = cap;
    }
    lg_event *e = &t->ev[t->n++];
    memset(e, 0, sizeof *e);
    e->seq = ++t->seq;
    e->op = op;
    /* Plain strdup, as the trace's own memory: names are never cut. */
    e->tensor = tensor && *tensor ? strdup(tensor) : NULL;
    if (!e->tensor) {
        t->overflow |= tensor && *tensor; /* the name could not be kept */
        e->tensor = no_name;
    }
    e->from = from;
    e->to = to;
    e->bytes = bytes;
    e->ok = ok;
    snprintf(e->detail, sizeof e->detail, "%s", detail ? detail : "");
}

void lg__trace_detail_last(lg_trace *t, const char *detail)
{
    if (t && t->n && detail)
        snprintf(t->ev[t->n - 1].detail, sizeof t->ev[t->n - 1].detail, "%s", detail);
}
