/* Benchmark (not a test): loading a torch.save zip checkpoint of about
 * 1 GiB of f32 tensors, measured in one run against
 *   - Python's torch.load of the same file (when `import torch` works);
 *   - plain mmap + memcpy of the same tensor bytes into already-touched
 *     memory (and, for reference, into fresh memory).
 *
 * usage: torch_zip_bench [-m MIB] [-t TENSORS] [-r REPEATS] [-p PYTHON] FILE
 *
 * FILE is written first (harness/fixture/gen.c, `generate: {format: torch-zip}`)
 * unless it exists. The page cache is warmed by one read of the file, then
 * each measurement runs REPEATS times (default 3) and the best time is
 * kept (every run is printed too). loadgate loads into a CPU store of the
 * sim backend (variables as in the file), with CRC-32 checks on (the
 * default) and off; and its reader alone reads every tensor into touched
 * memory, as the memcpy baseline does. bench/
 * torch_zip_bench.sh builds and runs it; docs/torch-zip.md has numbers. */
#include "formats/zip.h"
#include "fixture/gen.h"
#include "loadgate/loadgate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NMEASURES 8

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "torch_zip_bench: %s: %s\n", what, lg_error_message()[0] ? lg_error_message()
                                                                            : strerror(errno));
    exit(1);
}

/* ------------------------------------------------------------ the file */

static void write_checkpoint(const char *path, int mib, int tensors)
{
    hx_gen g;
    hx_gen_init(&g);
    snprintf(g.format, sizeof g.format, "torch-zip");
    g.tensors = tensors;
    g.ndim = 2;
    g.shape[1] = 1024;
    g.shape[0] = (int64_t)mib * 1024 * 1024 / 4 / 1024 / tensors;
    g.seed = 1;
    printf("writing %s: %d f32 tensors of [%lld, 1024] ...\n", path, tensors,
           (long long)g.shape[0]);
    fflush(stdout);
    if (hx_gen_write(&g, path) != LG_OK)
        die(path);
}

typedef struct {
    const unsigned char *map;
    size_t size;
    size_t n;
    uint64_t *off, *len; /* each tensor record's data */
    uint64_t total;
} layout;

/* Maps the file and finds every archive/data/<k> record (the generator
 * writes one storage per tensor). */
static void map_layout(const char *path, layout *l)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0)
        die(path);
    l->size = (size_t)sb.st_size;
    l->map = mmap(NULL, l->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (l->map == MAP_FAILED)
        die("mmap");
    lg__zip z;
    if (lg__zip_open(&z, path, l->map, l->size) != LG_OK)
        die(path);
    l->off = calloc(z.n, sizeof *l->off);
    l->len = calloc(z.n, sizeof *l->len);
    for (size_t i = 0; i < z.n; i++) {
        if (z.e[i].nlen < 13 || memcmp(z.e[i].name, "archive/data/", 13))
            continue;
        l->off[l->n] = z.e[i].data;
        l->len[l->n] = z.e[i].usize;
        l->total += z.e[i].usize;
        l->n++;
    }
    lg__zip_close(&z);
}

/* Every page read once, so each measurement starts from a warm cache. */
static unsigned warm(const layout *l)
{
    unsigned sum = 0;
    for (size_t i = 0; i < l->size; i += 4096)
        sum += l->map[i];
    return sum;
}

/* ---------------------------------------------------------- measurements */

static double memcpy_touched(const layout *l, unsigned char *dst)
{
    double t = now();
    uint64_t at = 0;
    for (size_t i = 0; i < l->n; i++) {
        memcpy(dst + at, l->map + l->off[i], (size_t)l->len[i]);
        at += l->len[i];
    }
    return now() - t;
}

/* Fresh pages straight from the kernel (mmap), so that no allocator hands
 * back memory an earlier measurement touched. */
static double memcpy_fresh(const layout *l)
{
    void **p = calloc(l->n, sizeof *p);
    double t = now();
    for (size_t i = 0; i < l->n; i++) {
        p[i] = mmap(NULL, (size_t)l->len[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
        if (p[i] == MAP_FAILED)
            die("mmap");
        memcpy(p[i], l->map + l->off[i], (size_t)l->len[i]);
    }
    t = now() - t;
    for (size_t i = 0; i < l->n; i++)
        munmap(p[i], (size_t)l->len[i]);
    free(p);
    return t;
}

static double open_only(const char *path, const char *crc)
{
    lg_open_options o = {.crc = crc};
    lg_checkpoint *c;
    double t = now();
    if (lg_checkpoint_open(path, &o, &c) != LG_OK)
        die(path);
    t = now() - t;
    lg_checkpoint_close(c);
    return t;
}

/* The reader alone: lg_checkpoint_open, then lg_checkpoint_read of every
 * tensor into already-touched memory (as the mmap + memcpy baseline). */
static double reader_only(const char *path, const char *crc, unsigned char *dst)
{
    lg_open_options o = {.crc = crc};
    lg_checkpoint *c;
    double t = now();
    if (lg_checkpoint_open(path, &o, &c) != LG_OK)
        die(path);
    uint64_t at = 0;
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *ti = lg_checkpoint_tensor(c, i);
        if (lg_checkpoint_read(c, i, dst + at, (size_t)ti->nbytes) != LG_OK)
            die(path);
        at += ti->nbytes;
    }
    t = now() - t;
    lg_checkpoint_close(c);
    return t;
}

/* lg_store_load into a CPU store of the sim backend, mirrored from the
 * file (built outside the timing). */
static double loadgate_load(const char *path, const char *crc)
{
    lg_backend *b;
    lg_store *s;
    lg_checkpoint *c;
    if (lg_backend_open("sim", &b) != LG_OK || lg_store_new(b, lg_device_cpu(), &s) != LG_OK ||
        lg_checkpoint_open(path, NULL, &c) != LG_OK)
        die(path);
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        if (lg_store_add(s, t->name, t->dtype, t->ndim, t->shape) != LG_OK)
            die("store");
    }
    lg_checkpoint_close(c);
    lg_load_options o;
    lg_load_options_init(&o);
    o.crc = crc;
    double t = now();
    if (lg_store_load(s, path, &o, NULL) != LG_OK)
        die(path);
    t = now() - t;
    lg_store_free(s);
    lg_backend_close(b);
    return t;
}

/* Python's torch.load, timed inside Python (interpreter start and `import
 * torch` excluded). Returns the best time, or -1 with the reason. */
static double torch_load(const char *python, const char *path, int repeats, char *why,
                         size_t n, char *runs, size_t rn)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import sys, time\n"
             "try:\n"
             "    import torch\n"
             "except Exception as e:\n"
             "    print(\"skip\", type(e).__name__, e); sys.exit(0)\n"
             "runs = []\n"
             "for _ in range(%d):\n"
             "    t = time.perf_counter()\n"
             "    sd = torch.load(sys.argv[1])\n"
             "    t = time.perf_counter() - t\n"
             "    assert len(sd) > 0\n"
             "    del sd\n"
             "    runs.append(t)\n"
             "print(\"runs\", \" \".join(\"%%.3f\" %% t for t in runs))\n"
             "print(\"best\", min(runs), torch.__version__)' '%s' 2>&1",
             python, repeats, path);
    FILE *f = popen(cmd, "r");
    char line[512] = "";
    double best = -1;
    if (!f) {
        snprintf(why, n, "cannot run %s", python);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char ver[64] = "";
        if (sscanf(line, "best %lf %63s", &best, ver) >= 1) {
            snprintf(why, n, "torch %s", ver);
        } else if (!strncmp(line, "runs ", 5)) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(runs, rn, "%s", line + 5);
        } else {
            line[strcspn(line, "\n")] = '\0';
            snprintf(why, n, "%s", line);
        }
    }
    if (pclose(f) != 0 && best < 0)
        snprintf(why + strlen(why), n - strlen(why), " (%s failed)", python);
    return best;
}

/* ------------------------------------------------------------------ main */

/* The best of `repeats` runs; every run's time into runs (text). */
static double best_of(int repeats, double (*fn)(void *), void *ctx, char *runs, size_t n)
{
    double best = -1;
    size_t u = 0;
    runs[0] = '\0';
    for (int r = 0; r < repeats; r++) {
        double t = fn(ctx);
        if (best < 0 || t < best)
            best = t;
        if (u < n)
            u += (size_t)snprintf(runs + u, n - u, "%s%.3f", r ? " " : "", t);
    }
    return best;
}

typedef struct {
    const char *path;
    const char *crc;
    const layout *l;
    unsigned char *dst;
} ctx;

static double run_touched(void *p) { return memcpy_touched(((ctx *)p)->l, ((ctx *)p)->dst); }
static double run_fresh(void *p) { return memcpy_fresh(((ctx *)p)->l); }
static double run_open(void *p) { return open_only(((ctx *)p)->path, ((ctx *)p)->crc); }
static double run_load(void *p) { return loadgate_load(((ctx *)p)->path, ((ctx *)p)->crc); }
static double run_reader(void *p)
{
    return reader_only(((ctx *)p)->path, ((ctx *)p)->crc, ((ctx *)p)->dst);
}

int main(int argc, char **argv)
{
    int mib = 1024, tensors = 64, repeats = 3, c;
    const char *python = "python3";
    while ((c = getopt(argc, argv, "m:t:r:p:")) != -1) {
        switch (c) {
        case 'm': mib = atoi(optarg); break;
        case 't': tensors = atoi(optarg); break;
        case 'r': repeats = atoi(optarg); break;
        case 'p': python = optarg; break;
        default:
            fprintf(stderr, "usage: torch_zip_bench [-m MIB] [-t TENSORS] [-r REPEATS] "
                            "[-p PYTHON] FILE\n");
            return 2;
        }
    }
    if (optind != argc - 1 || mib <= 0 || tensors <= 0 || repeats <= 0)
        return fprintf(stderr, "usage: torch_zip_bench [-m MIB] [-t TENSORS] [-r REPEATS] "
                               "[-p PYTHON] FILE\n"), 2;
    const char *path = argv[optind];
    if (access(path, R_OK) != 0)
        write_checkpoint(path, mib, tensors);
    layout l = {0};
    map_layout(path, &l);
    unsigned char *dst = malloc((size_t)l.total);
    if (!dst)
        die("malloc");
    memset(dst, 1, (size_t)l.total); /* touched before any timing */
    printf("file: %s, %zu bytes, %zu tensors, %llu bytes of tensor data; best of %d\n",
           path, l.size, l.n, (unsigned long long)l.total, repeats);
    warm(&l);

    ctx on = {path, NULL, &l, dst}, off = {path, "off", &l, dst};
    double t[NMEASURES];
    char why[512] = "", runs[NMEASURES][256] = {""};
    t[0] = best_of(repeats, run_load, &on, runs[0], sizeof runs[0]);
    t[1] = best_of(repeats, run_load, &off, runs[1], sizeof runs[1]);
    t[2] = best_of(repeats, run_open, &on, runs[2], sizeof runs[2]);
    t[3] = best_of(repeats, run_touched, &on, runs[3], sizeof runs[3]);
    t[4] = best_of(repeats, run_fresh, &on, runs[4], sizeof runs[4]);
    t[5] = torch_load(python, path, repeats, why, sizeof why, runs[5], sizeof runs[5]);
    t[6] = best_of(repeats, run_reader, &on, runs[6], sizeof runs[6]);
    t[7] = best_of(repeats, run_reader, &off, runs[7], sizeof runs[7]);

    double gib = (double)l.total / (1u << 30);
    printf("\n%-52s %9s %9s   %s\n", "measurement", "best (s)", "GiB/s", "every run (s)");
    static const char *const names[NMEASURES] = {
        "loadgate lg_store_load, sim cpu store (CRC on)", "loadgate lg_store_load (CRC off)",
        "  of which lg_checkpoint_open (CRC on)", "mmap + memcpy into touched memory",
        "mmap + memcpy into fresh memory (reference)", "Python torch.load",
        "loadgate reader only: open + read, touched (CRC on)", "loadgate reader only (CRC off)"};
    for (int i = 0; i < NMEASURES; i++) {
        if (t[i] < 0)
            printf("%-52s %9s   skipped: %s\n", names[i], "-", why);
        else
            printf("%-52s %9.3f %9.2f   %s%s%s\n", names[i], t[i], gib / t[i], runs[i],
                   i == 5 ? "   " : "", i == 5 ? why : "");
    }
    printf("\nratios (loadgate CRC on / CRC off):\n");
    if (t[5] > 0)
        printf("  vs torch.load:               %.2f / %.2f\n", t[0] / t[5], t[1] / t[5]);
    else
        printf("  vs torch.load:               skipped (%s)\n", why);
    printf("  vs mmap + memcpy (touched):  %.2f / %.2f\n", t[0] / t[3], t[1] / t[3]);
    printf("  vs mmap + memcpy (fresh):    %.2f / %.2f\n", t[0] / t[4], t[1] / t[4]);
    printf("reader only (CRC on / CRC off):\n");
    if (t[5] > 0)
        printf("  vs torch.load:               %.2f / %.2f\n", t[6] / t[5], t[7] / t[5]);
    printf("  vs mmap + memcpy (touched):  %.2f / %.2f\n", t[6] / t[3], t[7] / t[3]);
    free(dst);
    munmap((void *)l.map, l.size);
    free(l.off);
    free(l.len);
    return 0;
}
