/* report.json: the whole report as one document (schema
 * loadgate-report/1, docs/report.md), written and read back. */
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#include <stdio.h>
#include <string.h>

json_t *hx_report_json(const hx_report *r)
{
    json_t *doc = json_object();
    if (!doc)
        return NULL;
    int bad = json_object_set_new(doc, "schema", json_string(HX_REPORT_SCHEMA));
    bad |= json_object_set(doc, "environment", r->environment ? r->environment : json_null());
    if (r->run)
        bad |= json_object_set(doc, "run", r->run);
    bad |= json_object_set_new(doc, "summary", hx_report_summary(r));
    bad |= json_object_set(doc, "cases", r->cases);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

lg_status hx_report_write_json(const hx_report *r, const char *path)
{
    json_t *doc = hx_report_json(r);
    FILE *f;
    if (!doc)
        return hx_err(LG_E_NOMEM, "%s: out of memory", path);
    lg_status st = hx_fopen_out(path, &f);
    if (st == LG_OK) {
        int bad = hx_json_dumpf(doc, f, JSON_INDENT(1));
        fputc('\n', f);
        st = hx_fclose_checked(f, path);
        if (st == LG_OK && bad)
            st = hx_err(LG_E_IO, "%s: write error", path);
    }
    json_decref(doc);
    return st;
}

static int cases_well_formed(const json_t *cases)
{
    size_t i;
    json_t *c;
    hx_status st;
    json_array_foreach(cases, i, c) {
        if (!hx_json_get_str(c, "id") || hx_status_parse(hx_json_get_str(c, "status"), &st))
            return 0;
    }
    return 1;
}

/* The document at path, parsed. */
static lg_status load_doc(const char *path, json_t **doc)
{
    json_error_t je;
    *doc = hx_json_load_file(path, 0, &je);
    if (*doc)
        return LG_OK;
    if (je.line < 1) /* the file itself could not be read */
        return hx_err(LG_E_IO, "%s: %s", path, je.text);
    return hx_err(LG_E_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
}

lg_status hx_report_load(const char *path, hx_report *r)
{
    json_t *doc;
    lg_status st = load_doc(path, &doc);
    if (st != LG_OK)
        return st;
    const char *schema = hx_json_get_str(doc, "schema");
    json_t *cases = json_object_get(doc, "cases");
    if (!schema || strcmp(schema, HX_REPORT_SCHEMA))
        st = hx_err(LG_E_FORMAT, "%s: not a " HX_REPORT_SCHEMA " report (\"schema\")", path);
    else if (!json_is_array(cases) || !cases_well_formed(cases))
        st = hx_err(LG_E_FORMAT,
                    "%s: \"cases\" must be an array of objects with an id and a status", path);
    else if (hx_report_init(r) != LG_OK)
        st = hx_err(LG_E_NOMEM, "%s: out of memory", path);
    if (st != LG_OK) {
        json_decref(doc);
        return st;
    }
    json_decref(r->cases);
    r->cases = json_incref(cases);
    json_t *env = json_object_get(doc, "environment");
    r->environment = json_is_object(env) ? json_incref(env) : NULL;
    json_t *run = json_object_get(doc, "run");
    r->run = json_is_object(run) ? json_incref(run) : NULL;
    json_t *sum = json_object_get(doc, "summary");
    r->duration_s = json_number_value(json_object_get(sum, "duration_s"));
    const char *why = hx_json_get_str(sum, "interrupted_reason");
    snprintf(r->interrupted, sizeof r->interrupted, "%s", why ? why : "");
    json_decref(doc);
    return LG_OK;
}
