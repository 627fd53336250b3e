/* harness probe: its usage, its table and JSON, the verdict on the MPS
 * workaround against the libtorch of this build (or its absence), a probe
 * that runs out of time; the sim backend standing in for each libtorch
 * behaviour the gate decides on (--gate's exit codes, a device that claims
 * to be available and is broken); and the probe in the report of a run
 * that uses the torch backend. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"
#include "probe/probe.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_dir;

/* fd (1 or 2) into a file until unredirect(); returns the saved fd. */
static int redirect(int fd, const char *path)
{
    int saved = dup(fd), f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert(saved >= 0 && f >= 0);
    ck_assert(dup2(f, fd) == fd);
    close(f);
    return saved;
}

static void unredirect(int fd, int saved)
{
    ck_assert(dup2(saved, fd) == fd);
    close(saved);
}

/* Runs `harness probe ARGS` with its stdout in a file; returns the exit
 * code and, with --json, the parsed output. */
static int run_probe(int argc, char **argv, json_t **out)
{
    const char *path = tu_path(g_dir, "probe.out");
    fflush(NULL);
    int out_fd = redirect(1, path), err_fd = redirect(2, tu_path(g_dir, "probe.err"));
    int rc = hx_cmd_probe(argc, argv);
    fflush(NULL);
    unredirect(1, out_fd);
    unredirect(2, err_fd);
    if (out) {
        json_error_t e;
        *out = json_load_file(path, 0, &e);
        ck_assert_msg(*out != NULL, "probe output: %s", e.text);
    }
    return rc;
}

static const char *verdict_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(json_object_get(o, "verdict"), key));
}

/* The probe of reader on device in o, which must be there. */
static json_t *cell(json_t *o, const char *reader, const char *device)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(o, "probes"), i, p) {
        if (!strcmp(json_string_value(json_object_get(p, "reader")), reader) &&
            !strcmp(json_string_value(json_object_get(p, "device")), device))
            return p;
    }
    ck_abort_msg("no probe of %s on %s", reader, device);
    return NULL;
}

static const char *result_of(json_t *o, const char *reader, const char *device)
{
    return json_string_value(json_object_get(cell(o, reader, device), "result"));
}

static const char *ext_verdict(json_t *o, const char *ext)
{
    json_t *e = json_object_get(json_object_get(json_object_get(o, "verdict"), "extensions"), ext);
    ck_assert_msg(e != NULL, "no verdict for %s", ext);
    return json_string_value(json_object_get(e, "mps_workaround"));
}

START_TEST(probe_usage)
{
    char *help[] = {"probe", "--help"}, *bad[] = {"probe", "--bogus"},
         *badt[] = {"probe", "--timeout", "-1"}, *badb[] = {"probe", "--gate", "--backend", "mps"},
         *nosim[] = {"probe", "--gate", "--sim", "mps.available=no"},
         *badkey[] = {"probe", "--gate", "--backend", "sim", "--sim", "mps.colour=red"},
         *badval[] = {"probe", "--gate", "--backend", "sim", "--sim", "mps.alloc=sometimes"},
         *badset[] = {"probe", "--gate", "--backend", "sim", "--sim", "mps"},
         *baddev[] = {"probe", "--gate", "--backend", "sim", "--sim", "tpu.available=no"},
         *extra[] = {"probe", "--gate", "now"};
    ck_assert_int_eq(run_probe(2, help, NULL), 0);
    ck_assert_int_eq(run_probe(2, bad, NULL), 2);
    ck_assert_int_eq(run_probe(3, badt, NULL), 2);
    /* bad usage is 2 with --gate too, never a verdict */
    ck_assert_int_eq(run_probe(4, badb, NULL), 2);
    ck_assert_int_eq(run_probe(4, nosim, NULL), 2);
    ck_assert_int_eq(run_probe(6, badkey, NULL), 2);
    ck_assert_int_eq(run_probe(6, badval, NULL), 2);
    ck_assert_int_eq(run_probe(6, badset, NULL), 2);
    ck_assert_int_eq(run_probe(6, baddev, NULL), 2);
    ck_assert_int_eq(run_probe(3, extra, NULL), 2);
}
END_TEST

/* `harness probe --backend sim --gate [--sim S]... --json`: the exit code,
 * and the object in *o. */
static int sim_gate(json_t **o, const char *s1, const char *s2)
{
    char *argv[9] = {"probe", "--gate", "--json", "--backend", "sim"};
    int argc = 5;
    if (s1) {
        argv[argc++] = "--sim";
        argv[argc++] = (char *)s1;
    }
    if (s2) {
        argv[argc++] = "--sim";
        argv[argc++] = (char *)s2;
    }
    int rc = run_probe(argc, argv, o);
    ck_assert_int_eq(rc, hx_probe_gate(*o));
    ck_assert_str_eq(json_string_value(json_object_get(*o, "backend")), "sim");
    ck_assert_uint_eq(json_array_size(json_object_get(*o, "probes")), 4 * 3);
    return rc;
}

/* The sim's default mps refuses deserialization with libtorch 1.13's
 * words: the workaround is needed, --gate exits 1, plain probe exits 0. */
START_TEST(gate_needed)
{
    json_t *o = NULL;
    ck_assert_int_eq(sim_gate(&o, NULL, NULL), 1);
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "needed");
    for (int r = 0; r < HX_PROBE_NREADERS; r++) {
        ck_assert_str_eq(result_of(o, hx_probe_readers[r], "mps"), "rejected");
        ck_assert_str_eq(result_of(o, hx_probe_readers[r], "cpu"), "works");
    }
    const char *msg = json_string_value(json_object_get(cell(o, "torch-params", "mps"), "message"));
    ck_assert_msg(strstr(msg, "however got MPS"), "%s", msg);
    ck_assert_msg(strstr(verdict_of(o, "reason"), "however got MPS"), "%s", verdict_of(o, "reason"));
    ck_assert_str_eq(ext_verdict(o, ".pt"), "needed");
    ck_assert_str_eq(ext_verdict(o, "other"), "needed");
    ck_assert_str_eq(ext_verdict(o, ".safetensors"), "removable");
    json_decref(o);
    char *plain[] = {"probe", "--backend", "sim"};
    ck_assert_int_eq(run_probe(3, plain, NULL), 0);
}
END_TEST

START_TEST(gate_removable)
{
    json_t *o = NULL;
    ck_assert_int_eq(sim_gate(&o, "mps.direct_deserialize=ok", NULL), 0);
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "removable");
    for (int r = 0; r < HX_PROBE_NREADERS; r++)
        ck_assert_str_eq(result_of(o, hx_probe_readers[r], "mps"), "works");
    ck_assert_str_eq(ext_verdict(o, ".pt"), "removable");
    ck_assert_str_eq(ext_verdict(o, ".bin"), "removable");
    ck_assert_str_eq(ext_verdict(o, "other"), "removable");
    json_decref(o);
}
END_TEST

START_TEST(gate_unknown_without_mps)
{
    json_t *o = NULL;
    ck_assert_int_eq(sim_gate(&o, "mps.available=no", NULL), 3);
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "unknown");
    ck_assert(json_is_false(json_object_get(json_object_get(o, "devices"), "mps")));
    ck_assert_str_eq(result_of(o, "torch-params", "mps"), "unavailable");
    ck_assert_msg(strstr(verdict_of(o, "reason"), "not available"), "%s", verdict_of(o, "reason"));
    json_decref(o);
}
END_TEST

/* A device that claims to be available and refuses 256 bytes, or gives
 * other bytes back, is broken: never `works`, even where its deserializer
 * would accept it, and the gate cannot decide. */
static void assert_broken(json_t *o, const char *why)
{
    json_t *check = json_object_get(json_object_get(o, "device_checks"), "mps");
    const char *msg = json_string_value(json_object_get(check, "message"));
    ck_assert(json_is_true(json_object_get(json_object_get(o, "devices"), "mps")));
    ck_assert_str_eq(json_string_value(json_object_get(check, "result")), "broken");
    ck_assert_msg(strstr(msg, why), "%s", msg);
    for (int r = 0; r < HX_PROBE_NREADERS; r++) {
        ck_assert_str_eq(result_of(o, hx_probe_readers[r], "mps"), "broken");
        ck_assert_str_eq(result_of(o, hx_probe_readers[r], "cpu"), "works");
    }
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "unknown");
    ck_assert_msg(strstr(verdict_of(o, "reason"), why), "%s", verdict_of(o, "reason"));
}

START_TEST(broken_alloc)
{
    json_t *o = NULL;
    ck_assert_int_eq(sim_gate(&o, "mps.direct_deserialize=ok", "mps.alloc=refuse"), 3);
    assert_broken(o, "Tried to allocate 256 bytes");
    json_decref(o);
}
END_TEST

START_TEST(broken_readback)
{
    json_t *o = NULL;
    ck_assert_int_eq(sim_gate(&o, "mps.direct_deserialize=ok", "mps.readback=wrong"), 3);
    assert_broken(o, "came back with other values");
    json_decref(o);
}
END_TEST

/* A broken device that is not mps spoils only its own column. */
START_TEST(broken_cuda_leaves_the_verdict)
{
    json_t *o = NULL;
    ck_assert_int_eq(sim_gate(&o, "mps.direct_deserialize=ok", "cuda.readback=wrong"), 0);
    ck_assert_str_eq(result_of(o, "torchscript", "cuda"), "broken");
    ck_assert_str_eq(result_of(o, "torchscript", "mps"), "works");
    json_decref(o);
}
END_TEST

/* Per reader: tch-rs's .pt/.bin go through torch-params, anything else
 * through torchscript; the workaround goes only when both work. */
START_TEST(gate_per_reader)
{
    json_t *o = NULL;
    ck_assert_int_eq(sim_gate(&o, "torch-params:mps.direct_deserialize=ok", NULL), 1);
    ck_assert_str_eq(result_of(o, "torch-params", "mps"), "works");
    ck_assert_str_eq(result_of(o, "torchscript", "mps"), "rejected");
    ck_assert_str_eq(ext_verdict(o, ".pt"), "removable");
    ck_assert_str_eq(ext_verdict(o, ".bin"), "removable");
    ck_assert_str_eq(ext_verdict(o, "other"), "needed");
    ck_assert_msg(strstr(verdict_of(o, "reason"), "torchscript"), "%s", verdict_of(o, "reason"));
    json_t *per = json_object_get(json_object_get(o, "verdict"), "per_reader");
    ck_assert(json_is_true(json_object_get(json_object_get(per, "torch-params"), "tch_rs")));
    ck_assert(json_is_false(json_object_get(json_object_get(per, "torch-archive"), "tch_rs")));
    json_decref(o);
    /* the readers tch-rs does not use do not hold the verdict back */
    ck_assert_int_eq(sim_gate(&o, "torch-params:mps.direct_deserialize=ok",
                              "torchscript:mps.direct_deserialize=ok"), 0);
    ck_assert_str_eq(result_of(o, "torch-archive", "mps"), "rejected");
    ck_assert_str_eq(result_of(o, "torch-pickle", "mps"), "rejected");
    json_t *arch = json_object_get(json_object_get(json_object_get(o, "verdict"), "per_reader"),
                                   "torch-archive");
    ck_assert_str_eq(json_string_value(json_object_get(arch, "mps_workaround")), "needed");
    json_decref(o);
}
END_TEST

/* The table names every reader and the verdict per extension. */
START_TEST(table_of_sim)
{
    char *argv[] = {"probe", "--backend", "sim", "--sim", "torch-params:mps.direct_deserialize=ok"};
    ck_assert_int_eq(run_probe(5, argv, NULL), 0);
    size_t n;
    char *text = tu_read(tu_path(g_dir, "probe.out"), &n);
    ck_assert_ptr_nonnull(text);
    for (int r = 0; r < HX_PROBE_NREADERS; r++)
        ck_assert_msg(strstr(text, hx_probe_readers[r]), "%s", text);
    ck_assert_msg(strstr(text, "mps workaround: needed"), "%s", text);
    ck_assert_msg(strstr(text, ".pt           torch-params  removable"), "%s", text);
    free(text);
}
END_TEST

#ifdef LOADGATE_HAVE_TORCH
/* A load onto mps that this machine cannot do, in libtorch's words: 1.13's
 * unpickler refuses the device; pickle_load takes no device, and moving
 * its tensors there fails on the missing backend (2.x: every reader). */
static int mps_refusal(const char *reader, const char *msg)
{
    return tu_is_mps_refusal(msg) ||
           (!strcmp(reader, "torch-pickle") && strstr(msg, "not linked with support for mps"));
}

START_TEST(probe_libtorch)
{
    char *argv[] = {"probe", "--json"};
    json_t *o = NULL;
    ck_assert_int_eq(run_probe(2, argv, &o), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "libtorch")), lg_libtorch_version());
    ck_assert_str_eq(json_string_value(json_object_get(o, "backend")), "torch");
    json_t *devs = json_object_get(o, "devices");
    ck_assert(json_is_true(json_object_get(devs, "cpu")));
    json_t *ps = json_object_get(o, "probes");
    ck_assert_uint_eq(json_array_size(ps), 4 * 3);
    int mps_rejected = 0;
    size_t i;
    json_t *p;
    json_array_foreach(ps, i, p) {
        const char *reader = json_string_value(json_object_get(p, "reader"));
        const char *dev = json_string_value(json_object_get(p, "device"));
        const char *res = json_string_value(json_object_get(p, "result"));
        const char *msg = json_string_value(json_object_get(p, "message"));
        if (!strcmp(dev, "cpu"))
            ck_assert_msg(!strcmp(res, "works"), "%s on cpu: %s: %s", reader, res, msg);
        if (!strcmp(dev, "mps") && !json_is_true(json_object_get(devs, "mps"))) {
            ck_assert_msg(!strcmp(res, "rejected") || !strcmp(res, "unavailable"), "%s", res);
            ck_assert_msg(mps_refusal(reader, msg), "%s: unexpected message: %s", reader, msg);
            mps_rejected += !strcmp(res, "rejected");
        }
    }
    if (tu_libtorch_major() < 2 && !json_is_true(json_object_get(devs, "mps"))) {
        /* 1.13: the unpickler refuses mps before asking whether it exists,
         * in every reader that takes a device */
        ck_assert_int_eq(mps_rejected, 3);
        ck_assert_str_eq(result_of(o, "torch-params", "mps"), "rejected");
        ck_assert_str_eq(result_of(o, "torchscript", "mps"), "rejected");
        ck_assert_str_eq(verdict_of(o, "mps_workaround"), "needed");
        ck_assert_msg(strstr(verdict_of(o, "reason"), "however got MPS"), "%s",
                      verdict_of(o, "reason"));
        ck_assert_str_eq(ext_verdict(o, ".pt"), "needed");
        ck_assert_str_eq(ext_verdict(o, "other"), "needed");
        json_decref(o);
        char *gate[] = {"probe", "--gate"};
        ck_assert_int_eq(run_probe(2, gate, NULL), 1);
    } else if (!json_is_true(json_object_get(devs, "mps"))) {
        /* 2.x without mps: every reader fails on the device: not decidable */
        ck_assert_str_eq(verdict_of(o, "mps_workaround"), "unknown");
        json_decref(o);
        char *gate[] = {"probe", "--gate"};
        ck_assert_int_eq(run_probe(2, gate, NULL), 3);
    } else {
        json_decref(o);
    }
    char *table[] = {"probe"};
    ck_assert_int_eq(run_probe(1, table, NULL), 0);
}
END_TEST

START_TEST(probe_timeout_is_reported)
{
    char *argv[] = {"probe", "--json", "--timeout", "0.001"};
    json_t *o = NULL;
    ck_assert_int_eq(run_probe(4, argv, &o), 1);
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "unknown");
    /* the setup child, or else every probe, runs out of time */
    const char *why = verdict_of(o, "reason");
    ck_assert_msg(strstr(why, "timed out") || strstr(why, "crashed"), "%s", why);
    json_decref(o);
    /* with --gate, a probe that could not decide is 3, not 1 */
    char *gate[] = {"probe", "--gate", "--timeout", "0.001"};
    ck_assert_int_eq(run_probe(4, gate, NULL), 3);
}
END_TEST

/* A run with a torch case carries the probe in report.json, summary.md
 * and index.html; a sim-only run does not run it. */
static const char torch_case[] =
    "suite: t\n"
    "fixtures:\n"
    "  small: {generate: {format: safetensors, tensors: 1, shape: [2, 2]}}\n"
    "cases:\n"
    "  - name: on-torch\n"
    "    backend: torch\n"
    "    device: cpu\n"
    "    file: small\n"
    "  - name: on-sim\n"
    "    backend: sim\n"
    "    device: cpu\n"
    "    file: small\n";

static json_t *run_report(const char *yaml, const char *out, const char *pattern)
{
    const char *path = tu_path(g_dir, "t.yaml");
    ck_assert_int_eq(tu_write(path, yaml, strlen(yaml)), 0);
    char *argv[] = {"run", (char *)path, "-o", (char *)out, "-k", (char *)pattern, "-j", "1", NULL};
    char *text = NULL;
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, argv, g_dir, &text), 0);
    free(text);
    json_error_t e;
    json_t *r = json_load_file(tu_path(out, "report.json"), 0, &e);
    ck_assert_msg(r != NULL, "report.json: %s", e.text);
    return r;
}

START_TEST(probe_in_report)
{
    char out[600];
    snprintf(out, sizeof out, "%s/with-torch", g_dir);
    json_t *r = run_report(torch_case, out, "on-torch");
    json_t *probe = json_object_get(json_object_get(r, "environment"), "probe");
    ck_assert_msg(json_is_object(probe), "no environment.probe");
    ck_assert_str_eq(json_string_value(json_object_get(probe, "backend")), "torch");
    ck_assert(json_is_string(json_object_get(json_object_get(probe, "verdict"), "mps_workaround")));
    ck_assert(json_is_integer(json_object_get(json_object_get(probe, "verdict"), "gate")));
    size_t n;
    char *md = tu_read(tu_path(out, "summary.md"), &n);
    ck_assert_ptr_nonnull(md);
    ck_assert_msg(strstr(md, "## MPS workaround: "), "%s", md);
    char *html = tu_read(tu_path(out, "index.html"), &n);
    ck_assert_ptr_nonnull(html);
    ck_assert_msg(strstr(html, "\"probe\":{"), "no probe in index.html's data");
    free(md);
    free(html);
    json_decref(r);

    snprintf(out, sizeof out, "%s/sim-only", g_dir);
    r = run_report(torch_case, out, "on-sim");
    ck_assert_ptr_null(json_object_get(json_object_get(r, "environment"), "probe"));
    md = tu_read(tu_path(out, "summary.md"), &n);
    ck_assert_ptr_nonnull(md);
    ck_assert_ptr_null(strstr(md, "MPS workaround"));
    free(md);
    json_decref(r);
}
END_TEST
#else /* no libtorch in this build */
START_TEST(probe_without_libtorch)
{
    char *argv[] = {"probe", "--json"};
    json_t *o = NULL;
    ck_assert_int_eq(run_probe(2, argv, &o), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "libtorch")), "none");
    ck_assert_uint_eq(json_array_size(json_object_get(o, "probes")), 0);
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "unknown");
    ck_assert_str_eq(verdict_of(o, "reason"), "this build has no libtorch");
    json_decref(o);
    char *table[] = {"probe"}, *gate[] = {"probe", "--gate"};
    ck_assert_int_eq(run_probe(1, table, NULL), 0);
    ck_assert_int_eq(run_probe(2, gate, NULL), 3);
}
END_TEST
#endif

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("probe");
    TCase *probe = tcase_create("probe");
    tcase_set_timeout(probe, 120);
    tcase_add_test(probe, probe_usage);
    tcase_add_test(probe, gate_needed);
    tcase_add_test(probe, gate_removable);
    tcase_add_test(probe, gate_unknown_without_mps);
    tcase_add_test(probe, broken_alloc);
    tcase_add_test(probe, broken_readback);
    tcase_add_test(probe, broken_cuda_leaves_the_verdict);
    tcase_add_test(probe, gate_per_reader);
    tcase_add_test(probe, table_of_sim);
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(probe, probe_libtorch);
    tcase_add_test(probe, probe_timeout_is_reported);
    tcase_add_test(probe, probe_in_report);
#else
    tcase_add_test(probe, probe_without_libtorch);
#endif
    suite_add_tcase(s, probe);
    int failed = tu_run_suite(s);
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
