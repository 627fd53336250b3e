/* The trace: every event that moves bytes or changes a device, in order. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Events lie in chunks of EV_CHUNK, so that one never moves as the trace
 * grows (no realloc copies a long trace), and names in blocks of a name
 * arena, so that an event's name costs no malloc of its own: a load of
 * 100,000 tensors records about 300,000 events. */
#define EV_CHUNK 1024u
#define NAME_BLOCK 65536u

typedef struct name_block {
    struct name_block *next;
    size_t used, cap;
    char buf[];
} name_block;

struct lg_trace {
    lg_event **chunk;  /* nchunk chunks of EV_CHUNK events, kept by clear */
    size_t nchunk, capchunk;
    size_t n;
    uint64_t seq;
    int overflow;      /* an event could not be recorded (out of memory) */
    name_block *names; /* each event's tensor name is a copy in here (or "") */
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
    while (t->names) {
        name_block *b = t->names;
        t->names = b->next;
        free(b);
    }
}

void lg_trace_free(lg_trace *t)
{
    if (!t)
        return;
    free_names(t);
    for (size_t i = 0; i < t->nchunk; i++)
        free(t->chunk[i]);
    free(t->chunk);
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

/* Event i, which must exist. */
static lg_event *ev_at(const lg_trace *t, size_t i)
{
    return &t->chunk[i / EV_CHUNK][i % EV_CHUNK];
}

const lg_event *lg_trace_event(const lg_trace *t, size_t i)
{
    return t && i < t->n ? ev_at(t, i) : NULL;
}

/* A copy of name in the arena; the previous event's when it is the same
 * name (an alloc, a copy and a free of one tensor follow each other).
 * NULL out of memory. */
static const char *keep_name(lg_trace *t, const char *name)
{
    if (t->n > 1) {
        const char *last = ev_at(t, t->n - 2)->tensor;
        if (last != no_name && !strcmp(last, name))
            return last;
    }
    size_t n = strlen(name) + 1;
    if (!t->names || t->names->cap - t->names->used < n) {
        size_t cap = n > NAME_BLOCK ? n : NAME_BLOCK;
        name_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = t->names;
        b->used = 0;
        b->cap = cap;
        t->names = b;
    }
    char *d = t->names->buf + t->names->used;
    memcpy(d, name, n);
    t->names->used += n;
    return d;
}

/* detail, cut to fit, as snprintf("%s") would. */
static void set_detail(lg_event *e, const char *detail)
{
    size_t n = detail ? strnlen(detail, sizeof e->detail - 1) : 0;
    if (n)
        memcpy(e->detail, detail, n);
    e->detail[n] = '\0';
}

/* Room for one more event: a new chunk every EV_CHUNK events (one kept
 * from before a clear is used again). Plain malloc, as the trace's own
 * memory: a trace is the observer, not the code under test. */
static int room(lg_trace *t)
{
    size_t c = t->n / EV_CHUNK;
    if (c < t->nchunk)
        return 1;
    if (t->nchunk == t->capchunk) {
        size_t cap = t->capchunk ? 2 * t->capchunk : 16;
        lg_event **chunk = realloc(t->chunk, cap * sizeof *chunk);
        if (!chunk)
            return 0;
        t->chunk = chunk;
        t->capchunk = cap;
    }
    if (!(t->chunk[t->nchunk] = malloc(EV_CHUNK * sizeof(lg_event))))
        return 0;
    t->nchunk++;
    return 1;
}

void lg__trace_add(lg_trace *t, lg_op op, const char *tensor, lg_device from, lg_device to,
                   uint64_t bytes, int ok, const char *detail)
{
    if (!t)
        return;
    if (!room(t)) {
        t->overflow = 1;
        return;
    }
    lg_event *e = ev_at(t, t->n++);
    memset(e, 0, sizeof *e);
    e->seq = ++t->seq;
    e->op = op;
    /* names are never cut */
    e->tensor = tensor && *tensor ? keep_name(t, tensor) : NULL;
    if (!e->tensor) {
        t->overflow |= tensor && *tensor; /* the name could not be kept */
        e->tensor = no_name;
    }
    e->from = from;
    e->to = to;
    e->bytes = bytes;
    e->ok = ok;
    set_detail(e, detail);
}

void lg__trace_detail_last(lg_trace *t, const char *detail)
{
    if (t && t->n && detail)
        set_detail(ev_at(t, t->n - 1), detail);
}
