/* Run one case file from C, and print what happened to each case.
 *
 *   run_case CASES.yaml [HARNESS]
 *
 * The case language and the runner are the harness's, not the library's
 * (they fork, time out and sandbox cases): this program spawns
 * `harness run CASES.yaml --format json -o DIR` and reads DIR/report.json
 * (schema loadgate-report/1, docs/report.md) with jansson. HARNESS, else
 * $LOADGATE_HARNESS, else `harness` on the PATH. Exit status: harness's. */
#include <loadgate/loadgate.h>

#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* harness's exit status, or -1 if it could not run. */
static int run_harness(const char *harness, const char *cases, const char *dir)
{
    char *argv[] = {(char *)harness, "run", (char *)cases, "--format", "json", "-o",
                    (char *)dir,     NULL};
    pid_t pid;
    int status;
    int e = posix_spawnp(&pid, harness, NULL, NULL, argv, environ);
    if (e) {
        fprintf(stderr, "run_case: %s: %s\n", harness, strerror(e));
        return -1;
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static int print_report(const char *path)
{
    json_error_t err;
    json_t *r = json_load_file(path, 0, &err);
    if (!r) {
        fprintf(stderr, "run_case: %s:%d: %s\n", path, err.line, err.text);
        return -1;
    }
    json_t *sum = json_object_get(r, "summary"), *cases = json_object_get(r, "cases"), *c;
    size_t i;
    json_array_foreach(cases, i, c) {
        printf("%-8s %s\n", json_string_value(json_object_get(c, "status")),
               json_string_value(json_object_get(c, "id")));
    }
    printf("%lld cases: %lld passed, %lld failed, %lld skipped (loadgate %s)\n",
           (long long)json_integer_value(json_object_get(sum, "total")),
           (long long)json_integer_value(json_object_get(sum, "passed")),
           (long long)json_integer_value(json_object_get(sum, "failed")),
           (long long)json_integer_value(json_object_get(sum, "skipped")), LG_VERSION);
    json_decref(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: run_case CASES.yaml [HARNESS]\n");
        return 2;
    }
    const char *harness = argc > 2 ? argv[2] : getenv("LOADGATE_HARNESS");
    char dir[] = "/tmp/run_case-XXXXXX", report[64];
    if (!harness || !harness[0])
        harness = "harness";
    if (!mkdtemp(dir)) {
        perror("run_case: mkdtemp");
        return 2;
    }
    int rc = run_harness(harness, argv[1], dir);
    snprintf(report, sizeof report, "%s/report.json", dir);
    if (rc >= 0 && print_report(report) != 0)
        rc = -1;
    remove(report);
    rmdir(dir);
    return rc < 0 ? 2 : rc;
}
