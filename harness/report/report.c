/* The in-memory report (report.h): case statuses, the list of case
 * objects and the counts every output is made from. */
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const status_names[HX_ST_COUNT] = {
    "pass", "fail", "skip", "xfail", "xpass", "crash", "timeout", "error",
};

static const char *const summary_keys[HX_ST_COUNT] = {
    "passed", "failed", "skipped", "xfailed", "xpassed", "crashed", "timedout", "errors",
};

const char *hx_status_name(hx_status s)
{
    return (unsigned)s < HX_ST_COUNT ? status_names[s] : "?";
}

const char *hx_status_summary_key(hx_status s)
{
    return (unsigned)s < HX_ST_COUNT ? summary_keys[s] : "?";
}

int hx_status_parse(const char *s, hx_status *out)
{
    for (int i = 0; s && i < HX_ST_COUNT; i++) {
        if (!strcmp(s, status_names[i])) {
            *out = (hx_status)i;
            return 0;
        }
    }
    return -1;
}

int hx_status_fails_run(hx_status s)
{
    return s == HX_ST_FAIL || s == HX_ST_XPASS || s == HX_ST_CRASH || s == HX_ST_TIMEOUT;
}

int hx_status_not_ok(hx_status s)
{
    return hx_status_fails_run(s) || s == HX_ST_ERROR;
}

size_t hx_count_failing(const json_t *cases)
{
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(cases, i, c) n += hx_status_fails_run(hx_case_status(c)) != 0;
    return n;
}

size_t hx_count_errors(const json_t *cases)
{
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(cases, i, c) n += hx_case_status(c) == HX_ST_ERROR;
    return n;
}

const char *hx_run_verdict(size_t failing, size_t errors)
{
    return errors && failing ? "ERROR, FAILED" : errors ? "ERROR" : failing ? "FAILED" : "PASSED";
}

hx_status hx_case_status(const json_t *c)
{
    hx_status s;
    if (hx_status_parse(hx_json_get_str(c, "status"), &s))
        return HX_ST_FAIL;
    return s;
}

lg_status hx_formats_parse(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } fmts[] = {{"json", HX_FMT_JSON}, {"junit", HX_FMT_JUNIT}, {"md", HX_FMT_MD},
                {"html", HX_FMT_HTML}, {"all", HX_FMT_ALL}};
    const char *all = s;
    unsigned mask = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        size_t i;
        for (i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
            if (strlen(fmts[i].name) == n && !strncmp(s, fmts[i].name, n))
                break;
        if (i == sizeof fmts / sizeof fmts[0])
            return hx_err(LG_E_INVALID, "unknown format '%.*s' in '%s'", (int)n, s, all);
        mask |= fmts[i].bit;
        s += n;
        if (*s == ',')
            s++;
    }
    if (!mask)
        return hx_err(LG_E_INVALID, "no format in '%s'", all);
    *out = mask;
    return LG_OK;
}

lg_status hx_report_init(hx_report *r)
{
    memset(r, 0, sizeof *r);
    r->cases = json_array();
    return r->cases ? LG_OK : hx_err(LG_E_NOMEM, "out of memory");
}

void hx_report_free(hx_report *r)
{
    json_decref(r->environment);
    json_decref(r->run);
    json_decref(r->cases);
    json_decref(r->history);
    memset(r, 0, sizeof *r);
}

/* 64 random bits: /dev/urandom, else the clock's nanoseconds. */
static unsigned long long random_bits(void)
{
    unsigned long long v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (unsigned long long)ts.tv_nsec * 2654435761u ^ (unsigned long long)ts.tv_sec;
    }
    if (f)
        fclose(f);
    return v;
}

lg_status hx_report_stamp(hx_report *r)
{
    char id[80];
    struct tm tm;
    time_t now = time(NULL);
    if (!r->run && !(r->run = json_object()))
        return hx_err(LG_E_NOMEM, "out of memory");
    if (!gmtime_r(&now, &tm) || !strftime(id, 32, "%Y%m%dT%H%M%SZ", &tm))
        snprintf(id, 32, "%lld", (long long)now);
    snprintf(id + strlen(id), sizeof id - strlen(id), "-%ld-%08llx", (long)getpid(),
             random_bits() & 0xffffffffULL);
    if (!json_object_get(r->run, "run_id") &&
        json_object_set_new(r->run, "run_id", json_string(id)))
        return hx_err(LG_E_NOMEM, "out of memory");
    if (json_object_set_new(r->run, "duration_s", json_real(r->duration_s)))
        return hx_err(LG_E_NOMEM, "out of memory");
    return LG_OK;
}

lg_status hx_report_add(hx_report *r, json_t *c)
{
    if (!c || json_array_append_new(r->cases, c))
        return hx_err(LG_E_NOMEM, "out of memory");
    return LG_OK;
}

json_t *hx_report_summary(const hx_report *r)
{
    hx_counts all = hx_counts_of(r->cases, NULL);
    json_t *s = json_object();
    if (!s)
        return NULL;
    int bad = json_object_set_new(s, "total", json_integer((json_int_t)all.total));
    for (int k = 0; k < HX_ST_COUNT; k++)
        bad |= json_object_set_new(s, summary_keys[k], json_integer((json_int_t)all.n[k]));
    bad |= json_object_set_new(s, "duration_s", json_real(r->duration_s));
    bad |= json_object_set_new(s, "interrupted", json_boolean(r->interrupted[0]));
    if (r->interrupted[0])
        bad |= json_object_set_new(s, "interrupted_reason", json_string(r->interrupted));
    if (bad) {
        json_decref(s);
        return NULL;
    }
    return s;
}

void hx_counts_add(hx_counts *k, const json_t *c)
{
    k->n[hx_case_status(c)]++;
    k->total++;
    k->time += json_number_value(json_object_get(c, "duration_s"));
}

hx_counts hx_counts_of(const json_t *cases, const char *suite)
{
    hx_counts k = {0};
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) if (!suite || hx_case_in_suite(c, suite)) hx_counts_add(&k, c);
    return k;
}

const char **hx_suite_order(const json_t *cases, size_t *n)
{
    size_t i, k;
    json_t *c;
    const char **names = calloc(json_array_size(cases) + 1, sizeof *names);
    *n = 0;
    if (!names)
        return NULL;
    json_array_foreach(cases, i, c) {
        const char *s = hx_json_get_str(c, "suite");
        s = s ? s : "";
        for (k = 0; k < *n && strcmp(names[k], s); k++)
            ;
        if (k == *n)
            names[(*n)++] = s;
    }
    return names;
}

int hx_case_in_suite(const json_t *c, const char *suite)
{
    const char *s = hx_json_get_str(c, "suite");
    return !strcmp(s ? s : "", suite);
}

lg_status hx_report_write_with(const hx_report *r, const char *path, hx_report_body body)
{
    size_t nsuites;
    FILE *f;
    const char **suites = hx_suite_order(r->cases, &nsuites);
    if (!suites)
        return hx_err(LG_E_NOMEM, "%s: out of memory", path);
    lg_status st = hx_fopen_out(path, &f);
    if (st == LG_OK) {
        st = body(f, r, suites, nsuites);
        if (st != LG_OK) {
            fclose(f);
            hx_err(st, "%s: %s", path, hx_errmsg());
        } else {
            st = hx_fclose_checked(f, path);
        }
    }
    free(suites);
    return st;
}

static const struct {
    unsigned bit;
    const char *file;
    lg_status (*write)(const hx_report *, const char *);
} outs[] = {
    {HX_FMT_JSON, "report.json", hx_report_write_json},
    {HX_FMT_JUNIT, "junit.xml", hx_report_write_junit},
    {HX_FMT_MD, "summary.md", hx_report_write_md},
    {HX_FMT_HTML, "index.html", hx_report_write_html},
};

lg_status hx_report_clean(const char *dir)
{
    char path[4200];
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, outs[i].file) >= sizeof path)
            return hx_err(LG_E_IO, "path too long (%zu bytes): %.64s...", strlen(dir), dir);
        if (unlink(path) && errno != ENOENT)
            return hx_err(LG_E_IO, "cannot remove the earlier report %s: %s", path,
                          strerror(errno));
    }
    return LG_OK;
}

lg_status hx_report_write_all(const hx_report *r, const char *dir, unsigned formats)
{
    char path[4200], first[4096] = "";
    lg_status rc = hx_mkdirs(dir);
    if (rc != LG_OK)
        return rc;
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        if (!(formats & outs[i].bit))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, outs[i].file) >= sizeof path)
            return hx_err(LG_E_IO, "path too long (%zu bytes): %.64s...", strlen(dir), dir);
        lg_status st = outs[i].write(r, path);
        if (st != LG_OK && rc == LG_OK) { /* the others are still written */
            rc = st;
            snprintf(first, sizeof first, "%s", hx_errmsg());
        }
    }
    return rc == LG_OK ? LG_OK : hx_err(rc, "%s", first);
}
