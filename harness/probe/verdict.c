/* The probe's verdict and its JSON object (probe.h, docs/cli.md).
 *
 * tch-rs's VarStore::load picks its reader by the file's extension:
 * .pt and .bin go to torch::jit::_load_parameters (torch-params),
 * .safetensors is read on the CPU (no libtorch deserializer), anything
 * else goes to torch::jit::load (torchscript). Its MPS workaround can go
 * for an extension when that reader loads straight onto mps, and can go
 * altogether only when every reader it uses does. torch-archive
 * (InputArchive) and torch-pickle (pickle_load) are probed and judged as
 * well, for C++ programs that call them, but tch-rs's verdict does not
 * wait on them. */
#include "probe/internal.h"
#include "util/json.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *ext; /* as tch-rs matches it; "other" for the rest */
    int reader;      /* index into hx_probe_readers; -1: read on the CPU */
} tch_route;

static const tch_route routes[] = {{".pt", 2}, {".bin", 2}, {".safetensors", -1}, {"other", 1}};
#define NROUTES (sizeof routes / sizeof routes[0])

static const char *const words[] = {"removable", "needed", "unknown"};
enum { V_REMOVABLE, V_NEEDED, V_UNKNOWN };

static const hx_probe_cell *cell(const hx_probe_state *s, int reader, int dev)
{
    for (size_t i = 0; i < s->np; i++)
        if (s->p[i].reader == reader && s->p[i].dev == dev)
            return &s->p[i];
    return NULL;
}

/* One reader's verdict on mps: works, rejected, or not decidable here. */
static int reader_verdict(const hx_probe_state *s, int reader)
{
    const hx_probe_cell *p = cell(s, reader, LG_DEV_MPS);
    if (!p)
        return V_UNKNOWN;
    if (!strcmp(p->result, "works"))
        return V_REMOVABLE;
    return !strcmp(p->result, "rejected") ? V_NEEDED : V_UNKNOWN;
}

static int tch_uses(int reader)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].reader == reader)
            return 1;
    return 0;
}

/* ------------------------------------------------------ the reason */

/* The extensions tch-rs reads with a reader whose verdict is v, "a, b and
 * c" in buf. */
static const char *extensions_with(const hx_probe_state *s, int v, char *buf, size_t n)
{
    const char *e[NROUTES];
    size_t k = 0;
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].reader >= 0 && reader_verdict(s, routes[i].reader) == v)
            e[k++] = strcmp(routes[i].ext, "other") ? routes[i].ext : "any other extension";
    buf[0] = 0;
    for (size_t i = 0; i < k; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s",
                 i == 0 ? "" : i + 1 == k ? " and " : ", ", e[i]);
    return buf;
}

static const char *who(const hx_probe_state *s, char *buf, size_t n)
{
    if (s->sim)
        snprintf(buf, n, "the sim backend (standing in for libtorch)");
    else
        snprintf(buf, n, "libtorch %s's deserializer", lg_libtorch_version());
    return buf;
}

/* Why the verdict is unknown: the first tch-rs reader that could not be
 * decided, and what kept it from being. */
static void unknown_reason(const hx_probe_state *s, char *out, size_t n)
{
    for (size_t i = 0; i < NROUTES; i++) {
        const hx_probe_cell *p = routes[i].reader < 0 ? NULL : cell(s, routes[i].reader, LG_DEV_MPS);
        if (!p || reader_verdict(s, routes[i].reader) != V_UNKNOWN)
            continue;
        const char *r = hx_probe_readers[p->reader];
        int len = (int)strlen(p->message);
        len -= len > 0 && p->message[len - 1] == '.'; /* the sentence goes on */
        if (!strcmp(p->result, "broken"))
            snprintf(out, n, "mps cannot be trusted here: %.*s; run the probe on a machine "
                     "where MPS works", len, p->message);
        else if (!strcmp(p->result, "crash"))
            snprintf(out, n, "the %s probe onto mps crashed: %s", r, p->message);
        else
            snprintf(out, n, "mps is not available here (%s: %s), and that does not tell "
                     "whether its deserializer accepts mps; run the probe on a machine with "
                     "MPS", r, p->message);
        return;
    }
    snprintf(out, n, "no probe onto mps ran");
}

static void reason(const hx_probe_state *s, int v, char *out, size_t n)
{
    char w[128], ext[128];
    if (v == V_REMOVABLE) {
        snprintf(out, n, "every reader tch-rs uses loads straight onto mps with the values "
                 "written (torch-params: .pt, .bin; torchscript: any other extension; "
                 ".safetensors is read on the CPU)");
        return;
    }
    if (v == V_UNKNOWN) {
        unknown_reason(s, out, n);
        return;
    }
    for (size_t i = 0; i < NROUTES; i++) {
        int r = routes[i].reader;
        if (r < 0 || reader_verdict(s, r) != V_NEEDED)
            continue;
        snprintf(out, n, "%s rejects mps (%s: %s); tch-rs needs the workaround for %s",
                 who(s, w, sizeof w), hx_probe_readers[r], cell(s, r, LG_DEV_MPS)->message,
                 extensions_with(s, V_NEEDED, ext, sizeof ext));
        return;
    }
}

/* ------------------------------------------------------ the object */

static int overall(const hx_probe_state *s)
{
    int works = 0, n = 0;
    if (s->setup_error[0] || !s->np)
        return V_UNKNOWN;
    for (size_t i = 0; i < NROUTES; i++) {
        if (routes[i].reader < 0)
            continue;
        int v = reader_verdict(s, routes[i].reader);
        if (v == V_NEEDED)
            return V_NEEDED;
        works += v == V_REMOVABLE;
        n++;
    }
    return works == n ? V_REMOVABLE : V_UNKNOWN;
}

static json_t *per_reader(const hx_probe_state *s)
{
    json_t *o = json_object();
    for (int r = 0; o && r < HX_PROBE_NREADERS && s->np; r++) {
        json_t *exts = json_array();
        for (size_t i = 0; exts && i < NROUTES; i++)
            if (routes[i].reader == r)
                json_array_append_new(exts, json_string(routes[i].ext));
        const hx_probe_cell *p = cell(s, r, LG_DEV_MPS);
        json_object_set_new(o, hx_probe_readers[r],
                            json_pack("{s:s, s:s?, s:b, s:o}", "mps_workaround",
                                      words[reader_verdict(s, r)], "mps_result",
                                      p ? p->result : NULL, "tch_rs", tch_uses(r), "extensions",
                                      exts ? exts : json_null()));
    }
    return o;
}

static json_t *extensions(const hx_probe_state *s)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < NROUTES; i++) {
        int r = routes[i].reader;
        /* a file tch-rs reads on the CPU needs no deserializer onto mps */
        int v = r < 0 ? V_REMOVABLE : reader_verdict(s, r);
        json_object_set_new(o, routes[i].ext,
                            json_pack("{s:s, s:s}", "reader", r < 0 ? "cpu" : hx_probe_readers[r],
                                      "mps_workaround", words[v]));
    }
    return o;
}

static json_t *verdict(const hx_probe_state *s)
{
    static const int gates[] = {HX_GATE_REMOVABLE, HX_GATE_NEEDED, HX_GATE_UNKNOWN};
    char why[2 * HX_PROBE_MSG + 256];
    int v = overall(s);
    if (s->setup_error[0])
        snprintf(why, sizeof why, "the probe could not start: %s", s->setup_error);
    else if (!s->sim && !strcmp(lg_libtorch_version(), "none"))
        snprintf(why, sizeof why, "this build has no libtorch");
    else
        reason(s, v, why, sizeof why);
    return json_pack("{s:s, s:o, s:i, s:o, s:o}", "mps_workaround", words[v], "reason",
                     hx_json_str(why), "gate", gates[v], "per_reader", per_reader(s),
                     "extensions", extensions(s));
}

static json_t *device_checks(const hx_probe_state *s)
{
    json_t *o = json_object();
    for (int d = 0; o && d < HX_PROBE_NDEV && s->check[d]; d++)
        json_object_set_new(o, hx_probe_devices[d],
                            json_pack("{s:s, s:o}", "result", s->check[d], "message",
                                      hx_json_str(s->check_msg[d])));
    return o;
}

static json_t *probes(const hx_probe_state *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->np; i++) {
        const hx_probe_cell *p = &s->p[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o}", "reader",
                                           hx_probe_readers[p->reader], "device",
                                           hx_probe_devices[p->dev], "result", p->result,
                                           "message", hx_json_str(p->message)));
    }
    return a;
}

static json_t *sim_settings(const hx_probe_state *s)
{
    if (!s->sim)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->o->nsim; i++)
        json_array_append_new(a, hx_json_str(s->o->sim[i]));
    return a;
}

json_t *hx_probe_json(const hx_probe_state *s)
{
    json_t *devs = json_object();
    int known = (s->sim || strcmp(lg_libtorch_version(), "none")) && !s->setup_error[0];
    for (int d = 0; devs && d < HX_PROBE_NDEV && known; d++)
        json_object_set_new(devs, hx_probe_devices[d], json_boolean(s->have[d]));
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "libtorch",
                     lg_libtorch_version(), "backend", s->sim ? "sim" : "torch", "sim",
                     sim_settings(s), "devices", devs ? devs : json_null(), "device_checks",
                     device_checks(s), "probes", probes(s), "verdict", verdict(s), "error",
                     s->setup_error[0] ? hx_json_str(s->setup_error) : json_null());
}
