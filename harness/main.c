/* harness: runs libloadgate against matrices of devices, corrupted files
 * and injected faults. See `harness --help`. */
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: harness COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run FILE.yaml...        run case suites, write reports (see run --help)\n"
    "  list FILE.yaml...       print one case id a line\n"
    "  validate FILE.yaml...   check case files; file:line:col: message\n"
    "  inspect CHECKPOINT      format and tensors (name, dtype, shape, bytes, sha256)\n"
    "  load CHECKPOINT --device D   load into a mirror store and check the invariants\n"
    "  probe                   libtorch version, devices, direct-load verdict\n"
    "  fixtures DIR            write the generated fixtures\n"
    "  merge -o OUT IN...      merge report.json files (shards)\n"
    "  compare BASE NEW        what changed between two reports; exit 1 on a regression\n"
    "  --version               versions, backends and the torch modules found\n"
    "  help COMMAND            the same as COMMAND --help\n"
    "\n"
    "exit codes: 0 passed, 1 a case failed or a file could not be loaded,\n"
    "            2 bad usage or an invalid case file,\n"
    "            5 run/list: -k or --shard selected no case\n";

static const struct {
    const char *name;
    int (*fn)(int, char **);
} cmds[] = {
    {"run", hx_cmd_run},         {"list", hx_cmd_list},       {"validate", hx_cmd_validate},
    {"inspect", hx_cmd_inspect}, {"load", hx_cmd_load},       {"probe", hx_cmd_probe},
    {"fixtures", hx_cmd_fixtures}, {"merge", hx_cmd_merge},   {"compare", hx_cmd_compare},
    {"__run-one", hx_cmd_run_one},
};

/* Versions, backends, and every place the torch module is looked for,
 * in order, with the libtorch each found one was built against: read from
 * the files, not loaded (docs/install.md). */
static int version(void)
{
    lg_torch_module m[8];
    size_t n = lg_torch_modules(m, 8);
    printf("harness (loadgate) %s\nlibtorch %s\nbackends %s\n", LG_VERSION,
           lg_libtorch_version(), lg_backends_built());
    for (size_t i = 0; i < n && i < 8; i++) {
        if (!m[i].found)
            printf("torch module %s: not found\n", m[i].path);
        else
            printf("torch module %s: libtorch %s%s\n", m[i].path,
                   m[i].libtorch[0] ? m[i].libtorch : "unknown", m[i].chosen ? " (used)" : "");
    }
    if (!n)
        printf("torch module: none (this build has no libtorch)\n");
    return 0;
}

/* A command whose output could not all be written (a full disk) does not
 * exit 0: whoever reads it would take a cut output for a whole one. */
static int stdout_checked(int rc)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    fputs("harness: stdout: write error\n", stderr);
    return rc ? rc : 2;
}

/* stdin, stdout or stderr closed by whoever started the harness: each
 * is opened on /dev/null, so that no file the harness opens (a report, a
 * result pipe) takes its number and receives what is meant for it. */
static void std_fds_open(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
            open("/dev/null", fd ? O_WRONLY : O_RDONLY) < 0)
            _exit(2); /* nothing can be said: there is nowhere to say it */
}

int main(int argc, char **argv)
{
    std_fds_open();
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    char *help[] = {argv[0], argc > 2 ? argv[2] : NULL, "--help", NULL};
    if (!strcmp(argv[1], "help") && argc > 2) { /* help CMD: CMD --help */
        argc = 3;
        argv = help;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        return stdout_checked(version());
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return stdout_checked(cmds[i].fn(argc - 1, argv + 1));
    fprintf(stderr, "harness: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
