/* Names, errors, the fault registry and the trace. */
#include "core/internal.h"
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

START_TEST(test_status_names)
{
    for (int i = 0; i < LG_STATUS_COUNT; i++) {
        lg_status s;
        ck_assert_int_eq(lg_status_parse(lg_status_name((lg_status)i), &s), LG_OK);
        ck_assert_int_eq(s, i);
    }
    ck_assert_str_eq(lg_status_name(LG_E_RESTORE), "LG_E_RESTORE");
    ck_assert_str_eq(lg_status_name((lg_status)99), "LG_E_UNKNOWN");
    lg_status s;
    ck_assert_int_eq(lg_status_parse("LG_E_NOPE", &s), LG_E_INVALID);
}
END_TEST

START_TEST(test_dtype_names)
{
    static const char *const spellings[][3] = {
        {"f64", "F64", "torch.float64"}, {"f32", "F32", "float"},  {"f16", "F16", "half"},
        {"bf16", "BF16", "bfloat16"},    {"i64", "I64", "long"},   {"i32", "I32", "int"},
        {"i16", "I16", "short"},         {"i8", "I8", "int8"},     {"u8", "U8", "uint8"},
        {"bool", "BOOL", "torch.bool"},
    };
    static const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
    for (int i = 0; i < LG_DTYPE_COUNT; i++) {
        for (int k = 0; k < 3; k++) {
            lg_dtype d;
            ck_assert_int_eq(lg_dtype_parse(spellings[i][k], &d), LG_OK);
            ck_assert_int_eq(d, i);
        }
        ck_assert_str_eq(lg_dtype_name((lg_dtype)i), spellings[i][0]);
        ck_assert_uint_eq(lg_dtype_size((lg_dtype)i), sizes[i]);
    }
    lg_dtype d;
    ck_assert_int_eq(lg_dtype_parse("F8_E4M3", &d), LG_E_INVALID);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "F8_E4M3"));
    ck_assert_int_eq(lg_dtype_parse(NULL, &d), LG_E_INVALID);
}
END_TEST

START_TEST(test_device_names)
{
    lg_device d;
    char buf[LG_DEVICE_NAME_MAX];
    ck_assert_int_eq(lg_device_parse("cuda:3", &d), LG_OK);
    ck_assert_int_eq(d.type, LG_DEV_CUDA);
    ck_assert_int_eq(d.index, 3);
    ck_assert_str_eq(lg_device_format(d, buf), "cuda:3");
    ck_assert_int_eq(lg_device_parse("cuda", &d), LG_OK);
    ck_assert_str_eq(lg_device_format(d, buf), "cuda:0");
    ck_assert_int_eq(lg_device_parse("mps", &d), LG_OK);
    ck_assert_str_eq(lg_device_format(d, buf), "mps");
    ck_assert(lg_device_equal(lg_device_cpu(), (lg_device){LG_DEV_CPU, 0}));
    static const char *const bad[] = {"gpu", "cuda:", "cuda:x", "cuda:1x", "cuda:999", "", "MPS"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(lg_device_parse(bad[i], &d), LG_E_INVALID);
}
END_TEST

START_TEST(test_policy_names)
{
    lg_policy p;
    lg_dtype_rule r;
    for (int i = 0; i <= LG_POLICY_AUTO; i++) {
        ck_assert_int_eq(lg_policy_parse(lg_policy_name((lg_policy)i), &p), LG_OK);
        ck_assert_int_eq(p, i);
    }
    ck_assert_int_eq(lg_policy_parse("via_cpu", &p), LG_E_INVALID);
    ck_assert_int_eq(lg_dtype_rule_parse("strict", &r), LG_OK);
    ck_assert_str_eq(lg_dtype_rule_name(r), "strict");
    ck_assert_int_eq(lg_dtype_rule_parse("adopt", &r), LG_OK);
    ck_assert_str_eq(lg_dtype_rule_name(r), "adopt");
    ck_assert_int_eq(lg_dtype_rule_parse("convert", &r), LG_OK);
    ck_assert_int_eq(r, LG_DTYPE_CONVERT);
    ck_assert_str_eq(lg_dtype_rule_name(r), "convert");
    ck_assert_int_eq(lg_dtype_rule_parse("lax", &r), LG_E_INVALID);
    ck_assert_str_eq(lg_dtype_rule_name((lg_dtype_rule)7), "?");
    lg_load_options o;
    lg_load_options_init(&o);
    ck_assert_int_eq(o.dtype_rule, LG_DTYPE_CONVERT); /* tch-rs's copy_ */
}
END_TEST

START_TEST(test_shapes)
{
    int64_t big[2] = {INT64_MAX, 4}, neg[1] = {-1}, ok[3] = {2, 3, 4}, empty[2] = {0, 5};
    uint64_t n;
    char buf[64];
    ck_assert(!lg__nbytes(LG_F32, 2, big, &n));
    ck_assert(!lg__nbytes(LG_F32, 1, neg, &n));
    ck_assert(!lg__nbytes(LG_F32, LG_MAX_DIMS + 1, ok, &n));
    ck_assert(lg__nbytes(LG_F64, 3, ok, &n));
    ck_assert_uint_eq(n, 192);
    ck_assert(lg__nbytes(LG_F32, 2, empty, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert(lg__nbytes(LG_F32, 0, NULL, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(lg__shape_str(3, ok, buf, sizeof buf), "[2, 3, 4]");
    ck_assert_str_eq(lg__shape_str(0, ok, buf, sizeof buf), "[]");
    ck_assert(lg__shape_equal(2, empty, 2, empty));
    ck_assert(!lg__shape_equal(2, empty, 1, empty));
}
END_TEST

START_TEST(test_error_prefix)
{
    lg_error_clear();
    ck_assert_str_eq(lg_error_message(), "");
    lg__err(LG_E_IO, "inner %d", 1);
    ck_assert_int_eq(lg__err_prefix(LG_E_FORMAT, "outer"), LG_E_FORMAT);
    ck_assert_str_eq(lg_error_message(), "outer: inner 1");
    lg_error_clear();
    lg__err_prefix(LG_E_FORMAT, "alone");
    ck_assert_str_eq(lg_error_message(), "alone");
}
END_TEST

START_TEST(test_fault_schedules)
{
    lg_fault_schedule nth = {.when = LG_FAULT_NTH, .k = 3};
    ck_assert_int_eq(lg_fault_set("mem.alloc", &nth), LG_OK);
    int fired[6];
    for (int i = 0; i < 6; i++)
        fired[i] = lg__fault("mem.alloc", NULL);
    ck_assert(!fired[0] && !fired[1] && fired[2] && !fired[3] && !fired[5]);
    ck_assert_uint_eq(lg_fault_hits("mem.alloc"), 6);
    ck_assert_uint_eq(lg_fault_fired("mem.alloc"), 1);

    lg_fault_schedule from = {.when = LG_FAULT_FROM, .k = 2, .err = EACCES};
    ck_assert_int_eq(lg_fault_set("io.open", &from), LG_OK);
    int err = 0;
    ck_assert(!lg__fault("io.open", &err));
    ck_assert(lg__fault("io.open", &err));
    ck_assert_int_eq(err, EACCES);
    ck_assert(lg__fault("io.open", &err));
    ck_assert_uint_eq(lg_fault_fired("io.open"), 2);

    /* prob: the same seed gives the same sequence */
    lg_fault_schedule prob = {.when = LG_FAULT_PROB, .p = 0.5, .seed = 42};
    char a[64], b[64];
    ck_assert_int_eq(lg_fault_set("io.read", &prob), LG_OK);
    for (int i = 0; i < 64; i++)
        a[i] = (char)lg__fault("io.read", NULL);
    ck_assert_int_eq(lg_fault_set("io.read", &prob), LG_OK);
    for (int i = 0; i < 64; i++)
        b[i] = (char)lg__fault("io.read", NULL);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_uint_gt(lg_fault_fired("io.read"), 10);
    ck_assert_uint_lt(lg_fault_fired("io.read"), 54);

    lg_fault_disarm();
    ck_assert(!lg__fault("mem.alloc", NULL));
    ck_assert_uint_eq(lg_fault_fired("io.open"), 2); /* counters kept */
    lg_fault_clear();
    ck_assert_uint_eq(lg_fault_hits("mem.alloc"), 0);

    ck_assert_int_eq(lg_fault_set("no.such", &nth), LG_E_INVALID);
    ck_assert_int_eq(lg_fault_set("mem.alloc", &(lg_fault_schedule){.when = LG_FAULT_NTH}), LG_E_INVALID);
    ck_assert_int_eq(lg_fault_set("mem.alloc", &(lg_fault_schedule){.when = LG_FAULT_PROB, .p = 2}),
                     LG_E_INVALID);
    ck_assert(!lg_fault_point_valid("no.such"));
    int n = 0;
    for (const char *const *p = lg_fault_points(); *p; p++, n++)
        ck_assert(lg_fault_point_valid(*p));
    ck_assert_int_eq(n, 9);
    ck_assert_uint_eq(lg_fault_hits("no.such"), 0);
}
END_TEST

/* Each point's name finds its own slot, and nothing else finds one:
 * names of a listed point's length, or one letter off, are not points. */
START_TEST(test_fault_names)
{
    const char *const *pts = lg_fault_points();
    for (int i = 0; pts[i]; i++) {
        lg_fault_clear();
        for (int k = 0; k <= i; k++)
            ck_assert(!lg__fault(pts[i], NULL));
        for (int j = 0; pts[j]; j++)
            ck_assert_uint_eq(lg_fault_hits(pts[j]), j == i ? (uint64_t)i + 1 : 0);
    }
    static const char *const not_points[] = {
        "",           "i",           "io.",          "io.ope",      "io.openn",
        "io.xxxx",    "io.opem",     "mem.allox",    "MEM.ALLOC",   "format.parsf",
        "device.allob", "devicE.copy", "store.movE", "store.restorE", "xx.open",
    };
    for (size_t i = 0; i < sizeof not_points / sizeof *not_points; i++) {
        ck_assert_msg(!lg_fault_point_valid(not_points[i]), "\"%s\" is no point", not_points[i]);
        ck_assert(!lg__fault(not_points[i], NULL));
    }
    lg_fault_clear();
}
END_TEST

enum { HIT_THREADS = 4, HITS_EACH = 200000 };

static void *hit_mem_alloc(void *fired)
{
    for (int i = 0; i < HITS_EACH; i++)
        *(int *)fired += lg__fault("mem.alloc", NULL);
    return NULL;
}

static void hit_from_threads(int fired[HIT_THREADS])
{
    pthread_t t[HIT_THREADS];
    for (int i = 0; i < HIT_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hit_mem_alloc, &fired[i]), 0);
    for (int i = 0; i < HIT_THREADS; i++)
        pthread_join(t[i], NULL);
}

/* Hits from several threads are all counted, armed (under the lock) or
 * not (without it), and an armed point fires on exactly its hit. */
START_TEST(test_fault_hits_threads)
{
    int fired[HIT_THREADS] = {0};
    lg_fault_clear();
    hit_from_threads(fired);
    ck_assert_uint_eq(lg_fault_hits("mem.alloc"), (uint64_t)HIT_THREADS * HITS_EACH);
    ck_assert_int_eq(fired[0] + fired[1] + fired[2] + fired[3], 0);

    memset(fired, 0, sizeof fired);
    lg_fault_schedule nth = {.when = LG_FAULT_NTH, .k = HIT_THREADS * HITS_EACH / 2 + 1};
    ck_assert_int_eq(lg_fault_set("mem.alloc", &nth), LG_OK);
    hit_from_threads(fired);
    ck_assert_uint_eq(lg_fault_hits("mem.alloc"), (uint64_t)HIT_THREADS * HITS_EACH);
    ck_assert_uint_eq(lg_fault_fired("mem.alloc"), 1);
    ck_assert_int_eq(fired[0] + fired[1] + fired[2] + fired[3], 1);
    lg_fault_clear();
}
END_TEST

/* The io points fail the way the real calls do. */
START_TEST(test_io_faults)
{
    const char *dir = tu_tmpdir();
    const char *p = tu_path(dir, "f");
    char buf[16];
    ck_assert_int_eq(tu_write(p, "0123456789", 10), 0);
    lg_fault_set("io.open", &(lg_fault_schedule){.when = LG_FAULT_NTH, .k = 1, .err = EMFILE});
    ck_assert_int_eq(lg__open(p, O_RDONLY), -1);
    ck_assert_int_eq(errno, EMFILE);
    int fd = lg__open(p, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    /* EINTR and a short read are retried: the read is whole */
    lg_fault_set("io.read", &(lg_fault_schedule){.when = LG_FAULT_NTH, .k = 1, .err = EINTR});
    ck_assert_int_eq(lg__read_full(fd, buf, 4, p), LG_OK);
    lg_fault_set("io.read", &(lg_fault_schedule){.when = LG_FAULT_NTH, .k = 1, .err = -1});
    ck_assert_int_eq(lg__read_full(fd, buf + 4, 6, p), LG_OK);
    ck_assert_mem_eq(buf, "0123456789", 10);
    ck_assert_int_eq(lg__read_full(fd, buf, 1, p), LG_E_IO); /* end of file */
    lseek(fd, 0, SEEK_SET);
    lg_fault_set("io.read", &(lg_fault_schedule){.when = LG_FAULT_NTH, .k = 1});
    ck_assert_int_eq(lg__read_full(fd, buf, 4, p), LG_E_IO);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "Input/output error"));
    lg_fault_set("io.mmap", &(lg_fault_schedule){.when = LG_FAULT_NTH, .k = 1});
    ck_assert(lg__mmap(10, fd) == MAP_FAILED);
    ck_assert_int_eq(errno, ENOMEM);
    lg_fault_set("mem.alloc", &(lg_fault_schedule){.when = LG_FAULT_FROM, .k = 1});
    ck_assert_ptr_null(lg__malloc(1));
    ck_assert_ptr_null(lg__calloc(1, 1));
    ck_assert_ptr_null(lg__realloc(NULL, 1));
    ck_assert_ptr_null(lg__strdup("x"));
    lg_fault_clear();
    close(fd);
    tu_rmtree(dir);
}
END_TEST

/* lg_store_load_open loads through a checkpoint the caller opened, which
 * stays open and usable, with no second open (format.parse is not
 * reached), and the load's observer gone from it; a checkpoint opened for
 * another backend, or none, is refused. */
static size_t g_seen;
static void count_seen(void *ctx, size_t k, uint64_t offset, const void *bytes, uint64_t n)
{
    (void)ctx, (void)k, (void)offset, (void)bytes, (void)n;
    g_seen++;
}

START_TEST(test_load_open)
{
    const char *dir = tu_tmpdir();
    const char *p = tu_path(dir, "two.safetensors");
    ck_assert_int_eq(tu_write_safetensors(p, 2, 4, 4), 0);
    lg_backend *sim, *other;
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
    ck_assert_int_eq(lg_backend_open("sim", &other), LG_OK);
    lg_open_options oo = {NULL, sim, NULL, NULL, 0};
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(p, &oo, &c), LG_OK);
    lg_store *st;
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    int64_t shape[2] = {4, 4};
    ck_assert_int_eq(lg_store_add(st, "t1", LG_F32, 2, shape), LG_OK);
    lg_load_options o;
    lg_load_options_init(&o);
    o.on_read = count_seen;
    lg_fault_clear();
    g_seen = 0;
    ck_assert_int_eq(lg_store_load_open(st, c, &o, NULL), LG_OK);
    ck_assert_uint_eq(g_seen, 1);
    ck_assert_uint_eq(lg_fault_hits("format.parse"), 0);
    float v[16];
    lg_device where;
    ck_assert_int_eq(lg_store_read(st, 0, v, sizeof v, &where), LG_OK);
    ck_assert(v[5] == 1005.0f);
    /* still open, and the observer was the load's only */
    ck_assert_int_eq(lg_checkpoint_read(c, 0, v, sizeof v), LG_OK);
    ck_assert(v[5] == 5.0f);
    ck_assert_uint_eq(g_seen, 1);
    /* the same load by path opens the file */
    ck_assert_int_eq(lg_store_load(st, p, NULL, NULL), LG_OK);
    ck_assert_uint_eq(lg_fault_hits("format.parse"), 1);
    lg_store *st2;
    ck_assert_int_eq(lg_store_new(other, lg_device_cpu(), &st2), LG_OK);
    ck_assert_int_eq(lg_store_add(st2, "t1", LG_F32, 2, shape), LG_OK);
    ck_assert_int_eq(lg_store_load_open(st2, c, NULL, NULL), LG_E_INVALID);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "another backend"));
    ck_assert_int_eq(lg_store_load_open(st2, NULL, NULL, NULL), LG_E_INVALID);
    lg_store_free(st2);
    lg_store_free(st);
    lg_checkpoint_close(c);
    lg_backend_close(other);
    lg_backend_close(sim);
    tu_rmtree(dir);
}
END_TEST

START_TEST(test_trace)
{
    lg_trace *t;
    ck_assert_int_eq(lg_trace_new(&t), LG_OK);
    lg_device cpu = lg_device_cpu(), mps = {LG_DEV_MPS, 0};
    for (int i = 0; i < 200; i++)
        lg__trace_add(t, LG_OP_COPY, "w", cpu, mps, 16, 1, NULL);
    lg__trace_add(t, LG_OP_FAULT, "w", cpu, mps, 0, 0, "device.copy");
    ck_assert_uint_eq(lg_trace_count(t), 201);
    const lg_event *e = lg_trace_event(t, 200);
    ck_assert_uint_eq(e->seq, 201);
    ck_assert_str_eq(lg_op_name(e->op), "fault");
    ck_assert_str_eq(e->detail, "device.copy");
    ck_assert_ptr_null(lg_trace_event(t, 201));
    lg_trace_clear(t);
    ck_assert_uint_eq(lg_trace_count(t), 0);
    lg__trace_add(NULL, LG_OP_COPY, "w", cpu, mps, 16, 1, NULL); /* no trace: no-op */
    ck_assert_str_eq(lg_op_name((lg_op)42), "?");
    lg_trace_free(t);
}
END_TEST

/* A long trace (its events in several chunks, its names in several blocks
 * of the arena, one name longer than a block), used again after a clear:
 * every event reads back as it was recorded, and stays where it is. */
START_TEST(test_trace_long)
{
    lg_trace *t;
    ck_assert_int_eq(lg_trace_new(&t), LG_OK);
    lg_device cpu = lg_device_cpu(), mps = {LG_DEV_MPS, 0};
    size_t nlong = 100000;
    char *big = malloc(nlong + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', nlong);
    big[nlong] = '\0';
    char detail[100];
    memset(detail, 'd', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    for (int round = 0; round < 2; round++) {
        const lg_event *first = NULL;
        for (int i = 0; i < 5000; i++) {
            char name[64];
            snprintf(name, sizeof name, "layer.%d.weight", i / 3); /* 3 events a name */
            lg__trace_add(t, (lg_op)(i % 3), i == 2500 ? big : i % 7 == 0 ? "" : name, cpu,
                          mps, (uint64_t)i, i % 2, i == 4999 ? detail : "p");
            if (i == 0)
                first = lg_trace_event(t, 0);
        }
        ck_assert_int_eq(lg_trace_lost(t), 0);
        ck_assert_uint_eq(lg_trace_count(t), 5000);
        ck_assert_ptr_eq(lg_trace_event(t, 0), first);
        for (int i = 0; i < 5000; i++) {
            const lg_event *e = lg_trace_event(t, (size_t)i);
            char name[64];
            snprintf(name, sizeof name, "layer.%d.weight", i / 3);
            ck_assert_uint_eq(e->seq, (uint64_t)i + 1);
            ck_assert_int_eq(e->op, i % 3);
            ck_assert_uint_eq(e->bytes, (uint64_t)i);
            ck_assert_int_eq(e->ok, i % 2);
            ck_assert_str_eq(e->tensor, i == 2500 ? big : i % 7 == 0 ? "" : name);
        }
        ck_assert_str_eq(lg_trace_event(t, 1)->detail, "p");
        ck_assert_uint_eq(strlen(lg_trace_event(t, 4999)->detail), 63); /* cut to fit */
        lg__trace_detail_last(t, "last");
        ck_assert_str_eq(lg_trace_event(t, 4999)->detail, "last");
        lg_trace_clear(t);
        ck_assert_uint_eq(lg_trace_count(t), 0);
    }
    free(big);
    lg_trace_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_status_names);
    tcase_add_test(tc, test_dtype_names);
    tcase_add_test(tc, test_device_names);
    tcase_add_test(tc, test_policy_names);
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_error_prefix);
    tcase_add_test(tc, test_fault_schedules);
    tcase_add_test(tc, test_fault_names);
    tcase_add_test(tc, test_fault_hits_threads);
    tcase_add_test(tc, test_io_faults);
    tcase_add_test(tc, test_load_open);
    tcase_add_test(tc, test_trace);
    tcase_add_test(tc, test_trace_long);
    suite_add_tcase(s, tc);
    int failed = tu_run_suite(s);
    return failed ? 1 : 0;
}
