/* The run history (history.h): history.jsonl appended to and read back. */
#include "report/history.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *env_str(const hx_report *r, const char *key)
{
    return hx_json_str(hx_json_get_str(r->environment, key));
}

json_t *hx_history_line(const hx_report *r)
{
    json_t *s = hx_report_summary(r);
    if (!s)
        return NULL;
    json_t *interrupted = json_incref(json_object_get(s, "interrupted"));
    json_object_del(s, "duration_s");
    json_object_del(s, "interrupted");
    json_object_del(s, "interrupted_reason");
    return json_pack("{s:o, s:o, s:f, s:o, s:o, s:o, s:o, s:o}", "run_id",
                     hx_json_str(hx_json_get_str(r->run, "run_id")), "started",
                     hx_json_str(hx_json_get_str(r->run, "started")), "duration_s",
                     r->duration_s, "interrupted", interrupted ? interrupted : json_false(),
                     "counts", s, "loadgate", env_str(r, "loadgate"), "libtorch",
                     env_str(r, "libtorch"), "commit", env_str(r, "commit"));
}

static lg_status append_line(const char *path, const json_t *line)
{
    char *text = hx_json_dumps(line, JSON_COMPACT);
    if (!text)
        return hx_err(LG_E_NOMEM, "%s: out of memory", path);
    FILE *f = fopen(path, "a");
    if (!f) {
        free(text);
        return hx_err(LG_E_IO, "%s: %s", path, strerror(errno));
    }
    int bad = fprintf(f, "%s\n", text) < 0;
    free(text);
    if (fclose(f) || bad)
        return hx_err(LG_E_IO, "%s: write error", path);
    return LG_OK;
}

/* The last HX_HISTORY_MAX objects of the file at path into out; the
 * number of the first line that is not one into *bad_line (0: none). */
static lg_status read_last(const char *path, json_t *out, long *bad_line)
{
    char *buf = NULL;
    size_t cap = 0;
    long no = 0;
    FILE *f = fopen(path, "r");
    *bad_line = 0;
    if (!f)
        return hx_err(LG_E_IO, "%s: %s", path, strerror(errno));
    while (getline(&buf, &cap, f) > 0) {
        no++;
        if (buf[strspn(buf, " \t\r\n")] == 0)
            continue;
        json_t *o = hx_json_loadb(buf, strlen(buf), 0, NULL);
        if (!json_is_object(o)) {
            json_decref(o);
            *bad_line = *bad_line ? *bad_line : no;
            continue;
        }
        json_array_append_new(out, o);
        if (json_array_size(out) > HX_HISTORY_MAX)
            json_array_remove(out, 0);
    }
    free(buf);
    fclose(f);
    return LG_OK;
}

lg_status hx_history_append(hx_report *r, const char *dir)
{
    char path[4200];
    long bad_line;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, HX_HISTORY_FILE) >= sizeof path)
        return hx_err(LG_E_IO, "path too long (%zu bytes): %.64s...", strlen(dir), dir);
    lg_status st = hx_mkdirs(dir);
    json_t *line = st == LG_OK ? hx_history_line(r) : NULL;
    if (st != LG_OK)
        return st;
    if (!line)
        return hx_err(LG_E_NOMEM, "%s: out of memory", path);
    st = append_line(path, line);
    json_decref(line);
    json_t *last = json_array();
    if (st == LG_OK && !last)
        st = hx_err(LG_E_NOMEM, "%s: out of memory", path);
    if (st == LG_OK)
        st = read_last(path, last, &bad_line);
    if (st != LG_OK) {
        json_decref(last);
        return st;
    }
    json_decref(r->history);
    r->history = last;
    if (bad_line)
        return hx_err(LG_E_FORMAT, "%s:%ld: not a JSON object; left out of the trend", path,
                      bad_line);
    return LG_OK;
}
