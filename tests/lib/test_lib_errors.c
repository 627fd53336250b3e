/* The library's refusals through its API: arguments a caller gets wrong,
 * the sim backend's profile and device refusals, paths that are not
 * regular files, and the tch policy's copy_ that cannot expand. Each
 * asserts the status and that the message names the thing refused. */
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *dir;
static lg_backend *sim;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
}

static void teardown(void)
{
    lg_fault_clear();
    lg_backend_close(sim);
    tu_rmtree(dir);
}

static lg_device dev(const char *s)
{
    lg_device d;
    ck_assert_int_eq(lg_device_parse(s, &d), LG_OK);
    return d;
}

#define ASSERT_REFUSED(call, code, text)                                                  \
    do {                                                                                  \
        ck_assert_int_eq((call), (code));                                                 \
        ck_assert_msg(strstr(lg_error_message(), (text)), "message \"%s\" lacks \"%s\"",  \
                      lg_error_message(), (text));                                        \
    } while (0)

/* A store on cpu with variables t0..t(n-1) of [rows, cols] f32. */
static lg_store *store_of(lg_device d, int n, int rows, int cols)
{
    lg_store *s;
    ck_assert_int_eq(lg_store_new(sim, d, &s), LG_OK);
    int64_t shape[2] = {rows, cols};
    char name[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "t%d", i);
        ck_assert_int_eq(lg_store_add(s, name, LG_F32, 2, shape), LG_OK);
    }
    return s;
}

START_TEST(test_store_arguments)
{
    lg_store *s;
    ASSERT_REFUSED(lg_store_new(NULL, lg_device_cpu(), &s), LG_E_INVALID, "backend and out");
    ASSERT_REFUSED(lg_store_new(sim, lg_device_cpu(), NULL), LG_E_INVALID, "backend and out");
    s = store_of(lg_device_cpu(), 2, 2, 3);
    float v[6] = {0};
    lg_device where;
    ASSERT_REFUSED(lg_store_fill(s, "nope", v, sizeof v), LG_E_NOTFOUND, "no variable \"nope\"");
    ASSERT_REFUSED(lg_store_fill(s, "t0", v, 4), LG_E_INVALID, "\"t0\" has 24 bytes, not 4");
    ASSERT_REFUSED(lg_store_read(s, 7, v, sizeof v, &where), LG_E_INVALID, "no variable 7");
    ASSERT_REFUSED(lg_store_read(s, 1, v, 8, &where), LG_E_INVALID, "\"t1\" has 24 bytes, not 8");
    ASSERT_REFUSED(lg_store_set_device(s, dev("cuda:1")), LG_E_DEVICE, "no such device");
    ck_assert(lg_device_equal(lg_store_device(s), lg_device_cpu()));
    /* an empty range writes nothing and is fine; one past the end is not */
    ck_assert_int_eq(lg_store_fill_range(s, "t0", 24, v, 0), LG_OK);
    ASSERT_REFUSED(lg_store_fill_range(s, "t0", 20, v, 8), LG_E_INVALID, "t0");
    lg_load_options o;
    lg_load_options_init(&o);
    ASSERT_REFUSED(lg_store_load(NULL, "x", &o, NULL), LG_E_INVALID, "store and path");
    ASSERT_REFUSED(lg_store_load(s, NULL, &o, NULL), LG_E_INVALID, "store and path");
    o.policy = (lg_policy)LG_POLICY_COUNT;
    ASSERT_REFUSED(lg_store_load(s, "x.safetensors", &o, NULL), LG_E_INVALID,
                   "x.safetensors: bad policy or dtype rule");
    lg_store_free(s);
}
END_TEST

START_TEST(test_checkpoint_arguments)
{
    const char *f = tu_path(dir, "two.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 2, 2, 2), 0);
    lg_checkpoint *c;
    ASSERT_REFUSED(lg_checkpoint_open(NULL, NULL, &c), LG_E_INVALID, "path and out");
    ASSERT_REFUSED(lg_checkpoint_open(f, NULL, NULL), LG_E_INVALID, "path and out");
    lg_open_options oo = {0};
    oo.reader = "pickle-of-doom";
    ASSERT_REFUSED(lg_checkpoint_open(f, &oo, &c), LG_E_INVALID,
                   "unknown reader \"pickle-of-doom\"");
    ck_assert_int_eq(lg_checkpoint_open(f, NULL, &c), LG_OK);
    float v[4];
    ASSERT_REFUSED(lg_checkpoint_read(c, 2, v, sizeof v), LG_E_INVALID, "no tensor 2");
    ASSERT_REFUSED(lg_checkpoint_read(c, 1, v, 4), LG_E_INVALID,
                   "tensor \"t1\" has 16 bytes, not 4");
    ASSERT_REFUSED(lg_checkpoint_try_device(c, 0, lg_device_cpu()), LG_E_INVALID,
                   "trying a device needs a backend");
    lg_checkpoint_close(c);
    oo.reader = NULL;
    oo.backend = sim;
    ck_assert_int_eq(lg_checkpoint_open(f, &oo, &c), LG_OK);
    ASSERT_REFUSED(lg_checkpoint_try_device(c, 9, lg_device_cpu()), LG_E_INVALID, "no tensor 9");
    ck_assert_int_eq(lg_checkpoint_try_device(c, 1, lg_device_cpu()), LG_OK);
    /* the sim profile's readback=wrong: the device gives other bytes */
    ck_assert_int_eq(lg_sim_profile_set(sim, dev("mps"), "direct_deserialize", "ok"), LG_OK);
    ck_assert_int_eq(lg_sim_profile_set(sim, dev("mps"), "readback", "wrong"), LG_OK);
    ASSERT_REFUSED(lg_checkpoint_try_device(c, 1, dev("mps")), LG_E_BACKEND,
                   "tensor \"t1\": bytes on the device differ from the file");
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(test_sim_profile)
{
    lg_device cpu = lg_device_cpu(), mps = dev("mps");
    ASSERT_REFUSED(lg_sim_profile_set(sim, cpu, NULL, "1"), LG_E_INVALID, "bad device, key or value");
    ASSERT_REFUSED(lg_sim_profile_set(sim, cpu, "capacity", NULL), LG_E_INVALID,
                   "bad device, key or value");
    ASSERT_REFUSED(lg_sim_profile_set(sim, cpu, "colour", "red"), LG_E_INVALID,
                   "unknown key \"colour\"");
    static const char *const bad[] = {"", "-1", "12 parsecs", "12KB", "99999999999999999999GiB",
                                      "18014398509481984GiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_REFUSED(lg_sim_profile_set(sim, cpu, "capacity", bad[i]), LG_E_INVALID,
                       "bad value");
    ASSERT_REFUSED(lg_sim_profile_set(sim, cpu, "float64", "maybe"), LG_E_INVALID,
                   "bad value \"maybe\" for float64");
    lg_backend *torchless = NULL;
    (void)torchless;
    /* capacities in each unit: 1 KiB holds a [16, 16] f32 (1 KiB), not 2 */
    static const char *const units[] = {"1024", "1024B", "1KiB", "1kib"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        lg_backend *b;
        ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
        ck_assert_int_eq(lg_sim_profile_set(b, cpu, "capacity", units[i]), LG_OK);
        lg_store *s;
        ck_assert_int_eq(lg_store_new(b, cpu, &s), LG_OK);
        int64_t shape[2] = {16, 16};
        ck_assert_int_eq(lg_store_add(s, "a", LG_F32, 2, shape), LG_OK);
        ASSERT_REFUSED(lg_store_add(s, "b", LG_F32, 2, shape), LG_E_DEVICE, "out of memory");
        lg_store_free(s);
        lg_backend_close(b);
    }
    ck_assert_int_eq(lg_sim_profile_set(sim, cpu, "capacity", "2MiB"), LG_OK);
    ck_assert_int_eq(lg_sim_profile_set(sim, cpu, "capacity", "3GiB"), LG_OK);
    ck_assert_int_eq(lg_sim_profile_set(sim, cpu, "capacity", "0"), LG_OK);
    (void)mps;
}
END_TEST

/* The profile's refusals on a device that is not mps word themselves
 * with the device's name (mps has PyTorch's own messages). */
START_TEST(test_sim_refusals_off_mps)
{
    lg_device cpu = lg_device_cpu(), cuda = dev("cuda:1");
    const char *f = tu_path(dir, "two.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 2, 2, 2), 0);
    lg_open_options oo = {0};
    oo.backend = sim;
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(f, &oo, &c), LG_OK);
    ck_assert_int_eq(lg_sim_profile_set(sim, cpu, "direct_deserialize", "refuse"), LG_OK);
    ASSERT_REFUSED(lg_checkpoint_try_device(c, 0, cpu), LG_E_DEVICE,
                   "cpu: direct deserialization refused (sim profile)");
    ASSERT_REFUSED(lg_checkpoint_try_device(c, 0, cuda), LG_E_DEVICE, "cuda:1: device not available");
    lg_checkpoint_close(c);
    lg_store *s;
    ck_assert_int_eq(lg_store_new(sim, cpu, &s), LG_OK);
    int64_t shape[1] = {4};
    ck_assert_int_eq(lg_sim_profile_set(sim, cpu, "float64", "refuse"), LG_OK);
    ASSERT_REFUSED(lg_store_add(s, "d", LG_F64, 1, shape), LG_E_DTYPE,
                   "cpu: float64 is not supported (sim profile)");
    lg_store_free(s);
    ck_assert_int_eq(lg_sim_profile_set(sim, cpu, "alloc", "refuse"), LG_OK);
    ck_assert_int_eq(lg_store_new(sim, cpu, &s), LG_OK);
    ASSERT_REFUSED(lg_store_add(s, "a", LG_F32, 1, shape), LG_E_DEVICE,
                   "cpu: allocation of 16 bytes refused (sim profile)");
    lg_store_free(s);
}
END_TEST

/* float64 refused on cpu by the profile: a load under the dtype rule
 * strict names the device. */
START_TEST(test_sim_float64_refused_on_cpu)
{
    lg_device cpu = lg_device_cpu();
    lg_store *s;
    ck_assert_int_eq(lg_store_new(sim, cpu, &s), LG_OK);
    int64_t shape[2] = {2, 2};
    ck_assert_int_eq(lg_store_add(s, "t0", LG_F64, 2, shape), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "t1", LG_F64, 2, shape), LG_OK);
    ck_assert_int_eq(lg_sim_profile_set(sim, cpu, "float64", "refuse"), LG_OK);
    const char *f = tu_path(dir, "two.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 2, 2, 2), 0);
    lg_load_options o;
    lg_load_options_init(&o);
    ASSERT_REFUSED(lg_store_load(s, f, &o, NULL), LG_E_DTYPE, "float64 is not supported (sim profile)");
    lg_store_free(s);
}
END_TEST

/* A path that is not a regular file: the message says what it is. */
START_TEST(test_not_regular_kinds)
{
    const char *sock = tu_path(dir, "s");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(sock), sizeof a.sun_path);
    strcpy(a.sun_path, sock);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(sock, NULL, &c), LG_E_IO);
    ck_assert_msg(strstr(lg_error_message(), "not a regular file") ||
                  strstr(lg_error_message(), "cannot open"), "%s", lg_error_message());
    close(fd);
    static const char *const blocks[] = {"/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1",
                                         "/dev/ram0"};
    int tried = 0;
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        if (access(blocks[i], F_OK) != 0)
            continue;
        tried++;
        ck_assert_int_eq(lg_checkpoint_open(blocks[i], NULL, &c), LG_E_IO);
        ck_assert_msg(strstr(lg_error_message(), "(a block device)") ||
                      strstr(lg_error_message(), "cannot open"), "%s", lg_error_message());
    }
    if (!tried)
        fprintf(stderr, "test_not_regular_kinds: no block device to open here; the socket was\n");
}
END_TEST

/* tch: copy_ of a file tensor into a variable of fewer dimensions cannot
 * expand, as PyTorch's copy_ says. */
START_TEST(test_tch_copy_cannot_expand)
{
    const char *f = tu_path(dir, "model.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 1, 2, 3), 0);
    lg_store *s;
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &s), LG_OK);
    int64_t shape[1] = {6};
    ck_assert_int_eq(lg_store_add(s, "t0", LG_F32, 1, shape), LG_OK);
    lg_load_options o;
    lg_load_options_init(&o);
    o.policy = LG_POLICY_TCH;
    ASSERT_REFUSED(lg_store_load(s, f, &o, NULL), LG_E_SHAPE, "copy_: expand");
    ck_assert(strstr(lg_error_message(), "tensor \"t0\""));
    lg_store_free(s);
}
END_TEST

START_TEST(test_names)
{
    lg_dtype d;
    lg_device v;
    lg_policy p;
    lg_dtype_rule r;
    lg_status st;
    ck_assert_int_eq(lg_dtype_parse("f33", &d), LG_E_INVALID);
    ck_assert_int_eq(lg_dtype_parse(NULL, &d), LG_E_INVALID);
    ck_assert_int_eq(lg_device_parse("tpu", &v), LG_E_INVALID);
    ck_assert_int_eq(lg_policy_parse("sideways", &p), LG_E_INVALID);
    ck_assert_int_eq(lg_dtype_rule_parse("guess", &r), LG_E_INVALID);
    ck_assert_int_eq(lg_status_parse("LG_E_NOPE", &st), LG_E_INVALID);
    char buf[LG_DEVICE_NAME_MAX];
    ck_assert_str_eq(lg_device_format((lg_device){(lg_device_type)99, 0}, buf), "?");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lib_errors");
    TCase *tc = tcase_create("lib_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_arguments);
    tcase_add_test(tc, test_checkpoint_arguments);
    tcase_add_test(tc, test_sim_profile);
    tcase_add_test(tc, test_sim_refusals_off_mps);
    tcase_add_test(tc, test_sim_float64_refused_on_cpu);
    tcase_add_test(tc, test_not_regular_kinds);
    tcase_add_test(tc, test_tch_copy_cannot_expand);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
