/* `harness probe --backend sim --sim [READER:]DEVICE.KEY=VALUE`: the sim
 * backend's per-device profile (lg_sim_profile_set, docs/cases.md) set
 * for every probe, or for one reader's probes only, so that each libtorch
 * behaviour the gate decides on can be stood in for without that libtorch
 * or that machine. */
#include "probe/internal.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    int reader; /* -1: every reader */
    lg_device dev;
    char key[64], value[64];
} sim_setting;

/* "[READER:]DEVICE.KEY=VALUE" into *out: LG_OK or LG_E_INVALID. */
static lg_status parse(const char *s, sim_setting *out)
{
    out->reader = -1;
    for (int i = 0; i < HX_PROBE_NREADERS; i++) {
        size_t n = strlen(hx_probe_readers[i]);
        if (!strncmp(s, hx_probe_readers[i], n) && s[n] == ':') {
            out->reader = i;
            s += n + 1;
        }
    }
    const char *dot = strchr(s, '.'), *eq = dot ? strchr(dot, '=') : NULL;
    char dev[LG_DEVICE_NAME_MAX];
    if (!dot || !eq || dot == s || eq == dot + 1 || !eq[1])
        return hx_err(LG_E_INVALID, "--sim '%s': expected [READER:]DEVICE.KEY=VALUE, e.g. "
                      "mps.direct_deserialize=ok or torch-params:mps.direct_deserialize=ok", s);
    if ((size_t)(dot - s) >= sizeof dev || (size_t)(eq - dot - 1) >= sizeof out->key ||
        strlen(eq + 1) >= sizeof out->value)
        return hx_err(LG_E_INVALID, "--sim '%s': too long", s);
    snprintf(dev, sizeof dev, "%.*s", (int)(dot - s), s);
    snprintf(out->key, sizeof out->key, "%.*s", (int)(eq - dot - 1), dot + 1);
    snprintf(out->value, sizeof out->value, "%s", eq + 1);
    if (lg_device_parse(dev, &out->dev) != LG_OK)
        return hx_err(LG_E_INVALID, "--sim '%s': unknown device '%s' (cpu, cuda or mps)", s, dev);
    return LG_OK;
}

static lg_status apply(lg_backend *b, const sim_setting *x, const char *setting)
{
    if (lg_sim_profile_set(b, x->dev, x->key, x->value) != LG_OK)
        return hx_err(LG_E_INVALID, "--sim '%s': %s", setting, lg_error_message());
    return LG_OK;
}

lg_status hx_probe_sim_check(const char *setting)
{
    sim_setting x;
    lg_backend *b = NULL;
    lg_status st = parse(setting, &x);
    if (st != LG_OK)
        return st;
    if (lg_backend_open("sim", &b) != LG_OK)
        return hx_err_lib(LG_E_NOMEM);
    st = apply(b, &x, setting);
    lg_backend_close(b);
    return st;
}

lg_status hx_probe_sim_apply(lg_backend *b, const hx_probe_opts *o, int reader)
{
    /* settings for every reader first, so that a reader's own win */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < o->nsim; i++) {
            sim_setting x;
            lg_status st = parse(o->sim[i], &x);
            if (st != LG_OK)
                return st;
            if (pass == 0 ? x.reader >= 0 : x.reader < 0 || x.reader != reader)
                continue;
            if ((st = apply(b, &x, o->sim[i])) != LG_OK)
                return st;
        }
    return LG_OK;
}
