/* The tch vs via-cpu invariant table (policies.h). */
#include "report/policies.h"
#include "invariants.h"
#include "report/report.h"
#include "util/error.h"
#include "util/json.h"

#include <string.h>

static const char *const compared[] = {"tch", "via-cpu"};
#define NCOMPARED (sizeof compared / sizeof compared[0])

typedef struct {
    size_t cases;
    size_t held[HX_INV_COUNT], broken[HX_INV_COUNT];
} tally;

static void count_case(tally *t, const json_t *c)
{
    const json_t *inv = json_object_get(c, "invariants");
    t->cases++;
    for (int i = 0; i < HX_INV_COUNT; i++) {
        const char *v = hx_json_get_str(inv, hx_inv_name((hx_inv)i));
        if (v && !strcmp(v, "pass"))
            t->held[i]++;
        else if (v && !strcmp(v, "fail"))
            t->broken[i]++;
    }
}

json_t *hx_policy_table(const json_t *cases)
{
    tally t[NCOMPARED] = {{0}};
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *p = hx_json_get_str(c, "policy");
        if (!p || hx_case_status(c) == HX_ST_SKIP)
            continue;
        for (size_t k = 0; k < NCOMPARED; k++)
            if (!strcmp(p, compared[k]))
                count_case(&t[k], c);
    }
    if (!t[0].cases)
        return NULL;
    json_t *doc = json_pack("{s:[s,s], s:{s:I, s:I}, s:[]}", "policies", compared[0],
                            compared[1], "cases", compared[0], (json_int_t)t[0].cases,
                            compared[1], (json_int_t)t[1].cases, "invariants");
    json_t *rows = doc ? json_object_get(doc, "invariants") : NULL;
    for (int v = 0; rows && v < HX_INV_COUNT; v++) {
        json_t *row = json_pack("{s:s}", "invariant", hx_inv_name((hx_inv)v));
        for (size_t k = 0; row && k < NCOMPARED; k++)
            json_object_set_new(row, compared[k], json_pack("{s:I, s:I}", "held",
                                (json_int_t)t[k].held[v], "broken", (json_int_t)t[k].broken[v]));
        if (!row || json_array_append_new(rows, row)) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

static json_int_t cell(const json_t *row, const char *policy, const char *what)
{
    return json_integer_value(json_object_get(json_object_get(row, policy), what));
}

lg_status hx_policy_table_md(FILE *f, const json_t *cases)
{
    json_t *doc = hx_policy_table(cases);
    if (!doc)
        return LG_OK;
    const json_t *n = json_object_get(doc, "cases");
    fprintf(f, "## tch-rs's pattern beside via-cpu\n\n"
               "Per invariant, the cases that held it and broke it under the policy `tch` "
               "(tch-rs's `VarStore::load` as written, %lld cases) and under `via-cpu` "
               "(loadgate's repaired version, %lld cases). Cases where an invariant does "
               "not apply are not counted; docs/policies.md says why each breaks.\n\n"
               "| invariant | tch held | tch broken | via-cpu held | via-cpu broken |\n"
               "| --- | ---: | ---: | ---: | ---: |\n",
            (long long)json_integer_value(json_object_get(n, "tch")),
            (long long)json_integer_value(json_object_get(n, "via-cpu")));
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(doc, "invariants"), i, row) {
        fprintf(f, "| %s | %lld | %lld | %lld | %lld |\n",
                hx_json_get_str(row, "invariant"), (long long)cell(row, "tch", "held"),
                (long long)cell(row, "tch", "broken"), (long long)cell(row, "via-cpu", "held"),
                (long long)cell(row, "via-cpu", "broken"));
    }
    fputc('\n', f);
    json_decref(doc);
    return ferror(f) ? hx_err(LG_E_IO, "write error") : LG_OK;
}
