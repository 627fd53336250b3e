/* The harness subcommands. Each takes the arguments after `harness`
 * (argv[0] is the subcommand's name) and returns the exit code:
 * 0 passed/loaded, 1 failed, 2 bad usage or invalid case file. Each
 * answers --help (and -h) with its usage on stdout and exit 0. */
#ifndef HX_CMD_H
#define HX_CMD_H

int hx_cmd_run(int argc, char **argv);      /* runner.c / cmd_run.c */
int hx_cmd_list(int argc, char **argv);     /* case.c */
int hx_cmd_validate(int argc, char **argv); /* case.c */
int hx_cmd_inspect(int argc, char **argv);  /* cmd_basic.c */
int hx_cmd_load(int argc, char **argv);     /* cmd_basic.c */
int hx_cmd_probe(int argc, char **argv);    /* probe.c */
int hx_cmd_fixtures(int argc, char **argv); /* cmd_basic.c */
int hx_cmd_merge(int argc, char **argv);    /* report.c */
/* Hidden: run one case in this process and print its outcome as JSON on
 * stdout (the `spawn` isolation mode's child). */
int hx_cmd_run_one(int argc, char **argv);

/* The path of the running harness executable (for spawn). */
const char *hx_self_exe(void);
#endif
