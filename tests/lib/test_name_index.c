/* The name index (core/name_index.h) and the lookups built on it: the
 * store's and the checkpoint's finds stay constant-time per name, so that
 * a load is linear in its tensor count. */
#include "core/name_index.h"
#include "core/internal.h"
#include "testutil.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAMES 20000

typedef struct {
    char (*name)[24];
    size_t calls; /* how many names the index asked for */
} table;

static const char *at(const void *ctx, size_t i)
{
    table *t = (table *)ctx;
    t->calls++;
    return t->name[i];
}

static table make_table(size_t n)
{
    table t = {calloc(n, sizeof *t.name), 0};
    ck_assert_ptr_nonnull(t.name);
    for (size_t i = 0; i < n; i++)
        snprintf(t.name[i], sizeof t.name[i], "layer.%zu.weight", i);
    return t;
}

START_TEST(test_index_finds_every_name)
{
    table t = make_table(NAMES);
    lg__name_index x = {0};
    for (size_t i = 0; i < NAMES; i++)
        lg__index_add(&x, at, &t);
    ck_assert_uint_eq(x.n, NAMES);
    ck_assert(!x.broken);
    t.calls = 0;
    for (size_t i = 0; i < NAMES; i++)
        ck_assert_uint_eq(lg__index_find(&x, t.name[i], at, &t, NAMES), i);
    /* a scan would ask for about NAMES * NAMES / 2 names; the index asks
     * for about one per lookup */
    ck_assert_msg(t.calls < 2 * NAMES, "%zu names read for %d lookups", t.calls, NAMES);
    ck_assert_uint_eq(lg__index_find(&x, "layer.20000.weight", at, &t, NAMES), (size_t)-1);
    ck_assert_uint_eq(lg__index_find(&x, "", at, &t, NAMES), (size_t)-1);
    lg__index_free(&x);
    free(t.name);
}
END_TEST

START_TEST(test_index_first_of_duplicates)
{
    table t = make_table(4);
    strcpy(t.name[2], t.name[1]);
    lg__name_index x = {0};
    lg__index_build(&x, at, &t, 4);
    ck_assert_uint_eq(lg__index_find(&x, t.name[1], at, &t, 4), 1);
    ck_assert_uint_eq(lg__index_find(&x, t.name[3], at, &t, 4), 3);
    lg__index_free(&x);
    free(t.name);
}
END_TEST

/* An index that does not cover the entries (never built, out of memory, or
 * behind the count) answers by a scan, with the same answers. */
START_TEST(test_index_falls_back_to_a_scan)
{
    table t = make_table(100);
    lg__name_index none = {0}, broken = {0}, behind = {0};
    broken.broken = 1;
    lg__index_build(&behind, at, &t, 50);
    for (size_t i = 0; i < 100; i++) {
        ck_assert_uint_eq(lg__index_find(&none, t.name[i], at, &t, 100), i);
        ck_assert_uint_eq(lg__index_find(&broken, t.name[i], at, &t, 100), i);
        ck_assert_uint_eq(lg__index_find(&behind, t.name[i], at, &t, 100), i);
    }
    ck_assert_uint_eq(lg__index_find(&none, "nope", at, &t, 100), (size_t)-1);
    lg__index_add(&broken, at, &t); /* stays broken, counts the entry */
    ck_assert_uint_eq(broken.n, 1);
    ck_assert_ptr_null(broken.slot);
    lg__index_free(&behind);
    free(t.name);
}
END_TEST

/* The table cannot be had (the mem.alloc fault point: a build's one table,
 * or the second or third table of an index grown step by step): the index
 * gives up its table and every find scans, still right. */
START_TEST(test_index_out_of_memory_scans)
{
    table t = make_table(300);
    for (uint64_t k = 1; k <= 3; k++) {
        lg__name_index x = {0};
        lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = k};
        ck_assert_int_eq(lg_fault_set("mem.alloc", &f), LG_OK);
        if (k == 1) {
            lg__index_build(&x, at, &t, 300); /* its one table, sized at once */
        } else {
            for (size_t i = 0; i < 300; i++) /* step by step: 64, 128, ... slots */
                lg__index_add(&x, at, &t);
        }
        ck_assert_uint_eq(lg_fault_fired("mem.alloc"), 1);
        lg_fault_clear();
        ck_assert(x.broken);
        ck_assert_ptr_null(x.slot);
        for (size_t i = 0; i < 300; i += 7)
            ck_assert_uint_eq(lg__index_find(&x, t.name[i], at, &t, 300), i);
        ck_assert_uint_eq(lg__index_find(&x, "nope", at, &t, 300), (size_t)-1);
        lg__index_free(&x);
    }
    free(t.name);
}
END_TEST

/* A reserved table takes its entries without growing: no allocation,
 * even when every allocation would fail; and reserving less than there
 * is room for changes nothing. */
START_TEST(test_index_reserve)
{
    table t = make_table(1000);
    lg__name_index x = {0};
    lg__index_reserve(&x, 0);
    ck_assert_ptr_null(x.slot);
    lg__index_reserve(&x, 1000);
    ck_assert_uint_eq(x.nslot, 2048);
    lg__name_slot *slot = x.slot;
    lg_fault_schedule f = {.when = LG_FAULT_FROM, .k = 1};
    ck_assert_int_eq(lg_fault_set("mem.alloc", &f), LG_OK);
    for (size_t i = 0; i < 1000; i++)
        lg__index_add(&x, at, &t);
    lg__index_reserve(&x, 10);
    ck_assert_uint_eq(lg_fault_hits("mem.alloc"), 0);
    lg_fault_clear();
    ck_assert(!x.broken);
    ck_assert_ptr_eq(x.slot, slot);
    for (size_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(lg__index_find(&x, t.name[i], at, &t, 1000), i);
    /* A larger reserve after the adds keeps every entry. */
    lg__index_reserve(&x, 5000);
    ck_assert_uint_eq(x.nslot, 16384);
    for (size_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(lg__index_find(&x, t.name[i], at, &t, 1000), i);
    lg__index_free(&x);
    free(t.name);
}
END_TEST

/* lg__index_insert says whether the name was there, with the earlier
 * entry; a broken index gives the same answers by a scan. */
START_TEST(test_index_insert)
{
    table t = make_table(1000);
    for (size_t i = 500; i < 1000; i += 100)
        strcpy(t.name[i], t.name[i - 499]); /* 500 repeats 1, 600 repeats 101, ... */
    for (int broken = 0; broken < 2; broken++) {
        lg__name_index x = {0};
        x.broken = broken;
        for (size_t i = 0; i < 1000; i++) {
            size_t want = i >= 500 && i % 100 == 0 ? i - 499 : (size_t)-1;
            ck_assert_uint_eq(lg__index_insert(&x, at, &t), want);
        }
        ck_assert_uint_eq(x.n, 1000);
        ck_assert_uint_eq(lg__index_find(&x, t.name[600], at, &t, 1000), 101);
        lg__index_free(&x);
    }
    free(t.name);
}
END_TEST

/* lg__index_insert_all: the same answers as lg__index_insert one entry at
 * a time (the names fetched ahead of their turn), from any starting
 * count, short runs (fewer names than it fetches ahead) included; a
 * broken index answers by scans. Each call stops at a name met again. */
START_TEST(test_index_insert_all)
{
    table t = make_table(1000);
    for (size_t i = 500; i < 1000; i += 100)
        strcpy(t.name[i], t.name[i - 499]); /* 500 repeats 1, 600 repeats 101, ... */
    for (int broken = 0; broken < 2; broken++) {
        lg__name_index x = {0};
        size_t first = 0;
        x.broken = broken;
        for (size_t want = 500; want < 1000; want += 100) {
            ck_assert_uint_eq(lg__index_insert_all(&x, at, &t, 1000, &first), want);
            ck_assert_uint_eq(first, want - 499);
            ck_assert_uint_eq(x.n, want + 1);
        }
        ck_assert_uint_eq(lg__index_insert_all(&x, at, &t, 1000, &first), (size_t)-1);
        ck_assert_uint_eq(x.n, 1000);
        ck_assert_uint_eq(lg__index_insert_all(&x, at, &t, 1000, &first), (size_t)-1);
        ck_assert_uint_eq(lg__index_find(&x, t.name[600], at, &t, 1000), 101);
        for (size_t i = 0; i < 1000; i++)
            if (i < 500 || i % 100)
                ck_assert_uint_eq(lg__index_find(&x, t.name[i], at, &t, 1000), i);
        lg__index_free(&x);
    }
    /* runs of 1 to 20 names after 0 to 3 indexed one by one; the last
     * name of the run repeats one of the first three when it can */
    for (size_t before = 0; before < 4; before++)
        for (size_t n = before + 1; n <= before + 20; n++) {
            table u = make_table(n);
            lg__name_index x = {0};
            size_t first = 0, dup = n > 1 ? n - 1 : (size_t)-1;
            if (dup != (size_t)-1)
                strcpy(u.name[dup], u.name[(n - 1) % 3 < dup ? (n - 1) % 3 : 0]);
            for (size_t i = 0; i < before; i++)
                lg__index_add(&x, at, &u);
            size_t got = lg__index_insert_all(&x, at, &u, n, &first);
            if (dup != (size_t)-1 && dup >= before) {
                ck_assert_uint_eq(got, dup);
                ck_assert_uint_eq(first, (n - 1) % 3 < dup ? (n - 1) % 3 : 0);
            } else {
                ck_assert_uint_eq(got, (size_t)-1);
            }
            ck_assert_uint_eq(x.n, n);
            for (size_t i = 0; i + 1 < n; i++)
                ck_assert_uint_eq(lg__index_find(&x, u.name[i], at, &u, n), i);
            lg__index_free(&x);
            free(u.name);
        }
    free(t.name);
}
END_TEST

/* The store: every name found after many adds, duplicates refused. */
/* A find with a hint looks at that entry first: one name read when it is
 * the one, and the index's answer when it is not (another name there, a
 * hint past the end, a name not there). */
START_TEST(test_index_find_hint)
{
    table t = make_table(NAMES);
    lg__name_index x = {0};
    lg__index_build(&x, at, &t, NAMES);
    t.calls = 0;
    for (size_t i = 0; i < NAMES; i++)
        ck_assert_uint_eq(lg__index_find_hint(&x, t.name[i], at, &t, NAMES, i), i);
    ck_assert_uint_eq(t.calls, NAMES);
    for (size_t i = 0; i < NAMES; i++) /* every hint one off */
        ck_assert_uint_eq(lg__index_find_hint(&x, t.name[i], at, &t, NAMES, (i + 1) % NAMES), i);
    ck_assert_uint_eq(lg__index_find_hint(&x, t.name[5], at, &t, NAMES, NAMES), 5);
    ck_assert_uint_eq(lg__index_find_hint(&x, t.name[5], at, &t, 5, 5), (size_t)-1);
    ck_assert_uint_eq(lg__index_find_hint(&x, "layer.x.weight", at, &t, NAMES, 3), (size_t)-1);
    lg__index_free(&x);
    free(t.name);
}
END_TEST

START_TEST(test_store_find_many)
{
    lg_backend *b;
    lg_store *s;
    char name[32];
    int64_t shape[1] = {1};
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    ck_assert_int_eq(lg_store_new(b, lg_device_cpu(), &s), LG_OK);
    for (int i = 0; i < NAMES; i++) {
        snprintf(name, sizeof name, "v%d", i);
        ck_assert_int_eq(lg_store_add(s, name, LG_U8, 1, shape), LG_OK);
    }
    for (int i = NAMES; i-- > 0;) {
        snprintf(name, sizeof name, "v%d", i);
        ck_assert_uint_eq(lg_store_find(s, name), (size_t)i);
    }
    ck_assert_int_eq(lg_store_add(s, "v7", LG_U8, 1, shape), LG_E_INVALID);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "\"v7\" is already in the store"));
    ck_assert_uint_eq(lg_store_count(s), NAMES);
    ck_assert_uint_eq(lg_store_find(s, "v20000"), (size_t)-1);
    lg_store_free(s);
    lg_backend_close(b);
}
END_TEST

/* The checkpoint: every tensor of a file found by name (100: what
 * tu_write_safetensors's header holds). */
START_TEST(test_checkpoint_find)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "many.safetensors");
    lg_checkpoint *c;
    ck_assert_int_eq(tu_write_safetensors(path, 100, 2, 2), 0);
    ck_assert_int_eq(lg_checkpoint_open(path, NULL, &c), LG_OK);
    ck_assert_uint_eq(lg_checkpoint_count(c), 100);
    for (size_t i = 0; i < lg_checkpoint_count(c); i++)
        ck_assert_uint_eq(lg_checkpoint_find(c, lg_checkpoint_tensor(c, i)->name), i);
    ck_assert_uint_eq(lg_checkpoint_find(c, "no such tensor"), (size_t)-1);
    lg_checkpoint_close(c);
    tu_rmtree(dir);
}
END_TEST

/* FNV-1a with its high half folded into its low: how names were hashed
 * before the hash was keyed, and a file could choose names for it. */
static uint64_t fnv_fold(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h ^ h >> 32;
}

/* Names chosen to share one slot of 1,024 under the unkeyed hash spread
 * over the slots under the keyed one, as any names would (expected: about
 * 640 slots of 1,024 for 1,000 names; the unkeyed hash gives 1). */
START_TEST(test_hash_spreads_chosen_names)
{
    enum { N = 1000, SLOTS = 1024 };
    static char name[N][24];
    static unsigned char used[SLOTS];
    size_t n = 0, distinct = 0;
    uint64_t want = 0;
    for (uint64_t k = 0; n < N; k++) {
        snprintf(name[n], sizeof name[n], "t%" PRIu64 ".weight", k);
        uint64_t h = fnv_fold(name[n]) & (SLOTS - 1);
        if (n == 0)
            want = h;
        if (h == want)
            n++;
    }
    for (size_t i = 0; i < N; i++) {
        size_t slot = (size_t)(lg__name_hash(name[i], strlen(name[i])) & (SLOTS - 1));
        distinct += !used[slot];
        used[slot] = 1;
    }
    ck_assert_msg(distinct > 400, "1,000 chosen names took %zu slots of 1,024", distinct);
}
END_TEST

/* The key is drawn per process: another process hashes the same name
 * differently (a chance of 2^-64 that it does not), and this one always
 * the same. */
START_TEST(test_hash_keyed_per_process)
{
    const char *nm = "layer.0.weight";
    uint64_t here = lg__name_hash(nm, strlen(nm)), there = 0;
    ck_assert_uint_eq(here, lg__name_hash(nm, strlen(nm)));
    char cmd[64];
    snprintf(cmd, sizeof cmd, "/proc/%ld/exe --hash %s", (long)getpid(), nm);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%" SCNx64, &there), 1);
    ck_assert_int_eq(pclose(f), 0);
    ck_assert_msg(here != there, "two processes hashed \"%s\" alike: %016" PRIx64, nm, here);
}
END_TEST

/* The hash of a name ignoring case is the hash of its lowered bytes, A-Z
 * only, whether the name is short or streamed (over 256 bytes). */
START_TEST(test_hash_fold)
{
    const char *mixed = "Archive/DATA.pkl\xc3\x89", *low = "archive/data.pkl\xc3\x89";
    ck_assert_uint_eq(lg__name_hash_fold(mixed, strlen(mixed)), lg__name_hash(low, strlen(low)));
    ck_assert_uint_ne(lg__name_hash(mixed, strlen(mixed)), lg__name_hash(low, strlen(low)));
    char a[1000], b[1000];
    for (size_t i = 0; i < sizeof a; i++) {
        a[i] = (char)("AbCdEfGhIj/._0Z"[i % 15]);
        b[i] = (char)lg__ascii_lower(a[i]);
    }
    for (size_t n = 255; n <= sizeof a; n += 149)
        ck_assert_uint_eq(lg__name_hash_fold(a, n), lg__name_hash(b, n));
}
END_TEST

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--hash")) { /* test_hash_keyed_per_process */
        printf("%016" PRIx64 "\n", lg__name_hash(argv[2], strlen(argv[2])));
        return 0;
    }
    Suite *s = suite_create("name_index");
    TCase *tc = tcase_create("index");
    tcase_add_test(tc, test_index_finds_every_name);
    tcase_add_test(tc, test_index_first_of_duplicates);
    tcase_add_test(tc, test_index_falls_back_to_a_scan);
    tcase_add_test(tc, test_index_out_of_memory_scans);
    tcase_add_test(tc, test_index_reserve);
    tcase_add_test(tc, test_index_insert);
    tcase_add_test(tc, test_index_insert_all);
    tcase_add_test(tc, test_index_find_hint);
    tcase_add_test(tc, test_store_find_many);
    tcase_add_test(tc, test_checkpoint_find);
    tcase_add_test(tc, test_hash_spreads_chosen_names);
    tcase_add_test(tc, test_hash_keyed_per_process);
    tcase_add_test(tc, test_hash_fold);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
