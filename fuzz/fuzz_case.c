/* libFuzzer target: the case-file loader (hx_suite_load), the YAML
 * layer, the value checks and the expansion. Whatever the bytes, loading
 * returns 0 with well-formed cases or -1, never crashes, and frees what it
 * allocated. The fixture folder is one that cannot be created, so that no
 * input makes the loader write fixtures (enumerations and splices from a
 * generated fixture then fail with a message, as they would on a
 * read-only disk). */
#include "case/case.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/loadgate-fuzz-case-XXXXXX";
static char path[sizeof dir + 16];

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_case: %s:%d: %s failed\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/suite.yaml", dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    hx_suite s;
    memset(&s, 0, sizeof s);
    lg_status rc = hx_suite_load(path, "/proc/loadgate-fuzz-no-fixtures", &s, NULL);
    CHECK(rc == LG_OK || rc == LG_E_FORMAT || rc == LG_E_NOMEM);
    if (rc == 0) {
        CHECK(s.suite && s.ncases > 0);
        for (size_t i = 0; i < s.ncases; i++) {
            const hx_case *c = &s.cases[i];
            CHECK(c->id && c->suite && c->name);
            CHECK(!strncmp(c->id, s.suite, strlen(s.suite)));
            CHECK(hx_case_selected(c, i, NULL, 0, 0) == 1);
            if (i < 4) { /* a deep copy frees cleanly */
                hx_case copy;
                CHECK(hx_case_copy(&copy, c) == 0);
                CHECK(!strcmp(copy.id, c->id));
                hx_case_free(&copy);
            }
        }
        hx_suite_free(&s);
    }
    return 0;
}
