// The one C++ translation unit of loadgate: libtorch behind an extern "C"
// API (torch_shim.h). Tensors, devices and the staging ring are here; the
// archives are in torch_shim_archives.inc, which this file includes.
// Modelled on tch-rs's torch-sys/libtch/torch_api.cpp: every entry point
// runs its body inside PROTECT, which catches every exception, keeps
// libtorch's text in a thread-local and returns a status. No exception
// ever crosses into C. See docs/boundary.md.
#include "backend/torch_shim.h"
#include "backend/torch_ring.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/mobile/import_data.h>
#include <torch/csrc/jit/runtime/print_handler.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/cuda.h>
#include <torch/serialize.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/version.h>

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <stdexcept>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

// torch::jit::_save_parameters is exported by libtorch 1.13 and 2.x alike,
// but its header (torch/csrc/jit/mobile/train/export_data.h) is missing
// from Debian's libtorch-dev: declared here as both define it.
namespace torch {
namespace jit {
TORCH_API void _save_parameters(const std::map<std::string, at::Tensor> &map, std::ostream &out,
                                bool use_flatbuffer);
} // namespace jit
} // namespace torch

// ------------------------------------------------------------- errors

namespace {

thread_local char last_error[2048];

lg_status set_error(lg_status s, const std::string &msg)
{
    size_t n = msg.size();
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ' || msg[n - 1] == '\r'))
        n--;
    if (n >= sizeof last_error)
        n = sizeof last_error - 1;
    std::memcpy(last_error, msg.data(), n);
    last_error[n] = '\0';
    return s;
}

bool mentions(const std::string &s, const char *word) { return s.find(word) != std::string::npos; }

// libtorch says "device", names the device kind, or runs out of device
// memory: that is a device problem (LG_E_DEVICE). Anything else keeps the
// caller's default.
lg_status classify(const std::string &msg, lg_status deflt)
{
    // "NVIDIA driver": 2.x's CUDA build on a machine without a GPU
    static const char *const device_words[] = {"device", "Device", "MPS",           "mps",
                                               "CUDA",   "cuda",   "NVIDIA driver", "HPU",
                                               "out of memory"};
    if (mentions(msg, "DefaultCPUAllocator"))
        return LG_E_NOMEM;
    for (const char *w : device_words)
        if (mentions(msg, w))
            return LG_E_DEVICE;
    return deflt;
}

} // namespace

// Runs the statements given; turns any exception into (status, message).
// `deflt` is the status of an exception that is not about a device.
#define PROTECT(deflt, ...)                                                                    \
    try {                                                                                      \
        __VA_ARGS__                                                                            \
    } catch (const c10::Error &e) {                                                            \
        std::string m = e.what_without_backtrace();                                            \
        return set_error(classify(m, deflt), m);                                               \
    } catch (const std::bad_alloc &) {                                                         \
        return set_error(LG_E_NOMEM, "out of memory (std::bad_alloc)");                        \
    } catch (const std::exception &e) {                                                        \
        std::string m = e.what();                                                              \
        return set_error(classify(m, deflt), m);                                               \
    } catch (...) {                                                                            \
        return set_error(LG_E_BACKEND, "unknown C++ exception from libtorch");                 \
    }

// ---------------------------------------------------------- conversions

namespace {

bool to_scalar(lg_dtype t, at::ScalarType *out)
{
    switch (t) {
    case LG_F64: *out = at::kDouble; return true;
    case LG_F32: *out = at::kFloat; return true;
    case LG_F16: *out = at::kHalf; return true;
    case LG_BF16: *out = at::kBFloat16; return true;
    case LG_I64: *out = at::kLong; return true;
    case LG_I32: *out = at::kInt; return true;
    case LG_I16: *out = at::kShort; return true;
    case LG_I8: *out = at::kChar; return true;
    case LG_U8: *out = at::kByte; return true;
    case LG_BOOL: *out = at::kBool; return true;
    default: return false;
    }
}

bool from_scalar(at::ScalarType s, lg_dtype *out)
{
    for (int i = 0; i < LG_DTYPE_COUNT; i++) {
        at::ScalarType x;
        if (to_scalar((lg_dtype)i, &x) && x == s) {
            *out = (lg_dtype)i;
            return true;
        }
    }
    return false;
}

c10::Device to_device(lg_device d)
{
    switch (d.type) {
    case LG_DEV_CUDA:
        // c10::DeviceIndex is 8 bits in libtorch 1.13 (16 from 2.3): a
        // larger index would wrap (cuda:255 to -1, the current device)
        if (d.index < 0 || d.index > std::numeric_limits<c10::DeviceIndex>::max())
            throw std::out_of_range("cuda:" + std::to_string(d.index) + ": libtorch " +
                                    TORCH_VERSION + " numbers devices up to " +
                                    std::to_string(std::numeric_limits<c10::DeviceIndex>::max()));
        return c10::Device(c10::DeviceType::CUDA, (c10::DeviceIndex)d.index);
    case LG_DEV_MPS: return c10::Device(c10::DeviceType::MPS);
    default: return c10::Device(c10::DeviceType::CPU);
    }
}

bool from_device(const c10::Device &d, lg_device *out)
{
    if (d.is_cpu()) {
        *out = {LG_DEV_CPU, 0};
        return true;
    }
    // GCOVR_EXCL_START: a tensor on a GPU (docs/coverage.md)
    if (d.is_cuda()) {
        *out = {LG_DEV_CUDA, d.has_index() ? (int)d.index() : 0};
        return true;
    }
    if (d.type() == c10::DeviceType::MPS) {
        *out = {LG_DEV_MPS, 0};
        return true;
    }
    return false;
    // GCOVR_EXCL_STOP
}

uint64_t tensor_bytes(const at::Tensor &t)
{
    return (uint64_t)t.numel() * (uint64_t)t.element_size();
}

std::vector<int64_t> dims(int ndim, const int64_t *shape)
{
    return std::vector<int64_t>(shape, shape + ndim);
}

std::string dotted(std::string name)
{
    for (char &ch : name)
        if (ch == '|')
            ch = '.';
    return name;
}

std::string piped(std::string name)
{
    for (char &ch : name)
        if (ch == '.')
            ch = '|';
    return name;
}

// The device's bytes are kept per (type, index).
int device_key(lg_device d) { return (int)d.type * 1024 + (d.index < 0 ? 0 : d.index); }

// A read-only view of bytes that libtorch's zip reader can read from: the
// checkpoint's map, so that libtorch sees exactly the bytes that were
// sniffed, without opening the file again.
class MemoryAdapter final : public caffe2::serialize::ReadAdapterInterface {
  public:
    MemoryAdapter(const void *data, size_t size) : data_((const char *)data), size_(size) {}
    size_t size() const override { return size_; }
    size_t read(uint64_t pos, void *buf, size_t n, const char *what = "") const override
    {
        (void)what;
        if (pos >= size_)
            return 0;
        if (n > size_ - pos)
            n = (size_t)(size_ - pos);
        std::memcpy(buf, data_ + pos, n);
        return n;
    }

  private:
    const char *data_;
    size_t size_;
};

// The same bytes as a seekable std::istream, for the readers that take a
// stream (_load_parameters looks at the first bytes, then seeks back).
class MemoryBuf final : public std::streambuf {
  public:
    MemoryBuf(const void *data, size_t size)
    {
        char *p = const_cast<char *>((const char *)data);
        setg(p, p, p + size);
    }

  protected:
    pos_type seekoff(off_type off, std::ios_base::seekdir dir,
                     std::ios_base::openmode which) override
    {
        (void)which;
        off_type base = dir == std::ios_base::beg   ? 0
                        : dir == std::ios_base::cur ? gptr() - eback()
                                                    : egptr() - eback();
        off_type at = base + off;
        if (at < 0 || at > egptr() - eback())
            return pos_type(off_type(-1));
        setg(eback(), eback() + at, egptr());
        return pos_type(at);
    }
    pos_type seekpos(pos_type pos, std::ios_base::openmode which) override
    {
        return seekoff(off_type(pos), std::ios_base::beg, which);
    }
};

} // namespace

// ---------------------------------------------------------------- types

struct lgt_pool {
    std::mutex mu;
    size_t live = 0;
    bool released = false;
    std::map<int, uint64_t> bytes;
    std::atomic<uint64_t> staging{0}; /* the ring's budget; 0: none given */
};

struct lgt_tensor {
    at::Tensor t;
    lgt_pool *pool;
    lg_device dev;
    uint64_t nbytes;
    bool borrowed; /* t lies over host memory it does not own (lgt_from_host) */
};

struct lgt_archive {
    std::vector<std::string> names;
    std::vector<at::Tensor> tensors;
    std::vector<bool> taken;
    std::set<const void *> handed; // the storages already handed over
    bool modules = false;
};

namespace {

lgt_tensor *adopt(lgt_pool *p, const at::Tensor &t)
{
    lg_device d{LG_DEV_CPU, 0};
    from_device(t.device(), &d);
    std::unique_ptr<lgt_tensor> h(new lgt_tensor{t, p, d, tensor_bytes(t), false});
    std::lock_guard<std::mutex> g(p->mu);
    p->bytes[device_key(d)] += h->nbytes; // may throw: then nothing was counted
    p->live++;
    return h.release();
}

// ------------------------------------------------------ the staging ring
//
// Host bytes go to a GPU through a ring of pinned buffers on a stream of
// their own (torch_ring.h has the plan and the loop; docs/cuda-staging.md
// the design). Only device-generic c10 calls are made (c10::Stream,
// c10::Event, the device's guard implementation), so the file needs no
// CUDA header and builds against a CPU-only libtorch, where no tensor is
// ever on a GPU and the ring is never entered.

struct Ring {
    const unsigned char *src;
    at::Tensor dst; // the device tensor's bytes, flat
    std::vector<at::Tensor> bufs;
    std::vector<c10::Event> events;
    c10::Stream stream;
};

// GCOVR_EXCL_START: the ring runs on a CUDA device only (docs/coverage.md)
void wait_event(const c10::Event &e)
{
#if TORCH_VERSION_MAJOR >= 2
    e.synchronize();
#else
    // 1.13's c10::Event has no synchronize
    while (!e.query())
        std::this_thread::yield();
#endif
}

int ring_wait(void *ctx, size_t slot)
{
    wait_event(static_cast<Ring *>(ctx)->events[slot]);
    return 0;
}

int ring_fill(void *ctx, size_t slot, uint64_t off, size_t len)
{
    Ring *r = static_cast<Ring *>(ctx);
    std::memcpy(r->bufs[slot].data_ptr(), r->src + off, len);
    return 0;
}

int ring_submit(void *ctx, size_t slot, uint64_t off, size_t len)
{
    Ring *r = static_cast<Ring *>(ctx);
    c10::StreamGuard on(r->stream);
    r->dst.narrow(0, (int64_t)off, (int64_t)len)
        .copy_(r->bufs[slot].narrow(0, 0, (int64_t)len), /*non_blocking=*/true);
    r->events[slot].record(r->stream);
    return 0;
}

const lgt_ring_ops ring_ops = {ring_wait, ring_fill, ring_submit};

// The n bytes at src into the contiguous tensor t on a GPU, through the
// ring; returns once they are there. Throws as libtorch does.
void ring_write(const at::Tensor &t, const void *src, size_t n, uint64_t budget)
{
    lgt_ring_plan p = lgt_ring_plan_for(n, budget);
    c10::Device dev = t.device();
    c10::impl::VirtualGuardImpl impl(dev.type());
    Ring r{(const unsigned char *)src, t.view({-1}).view(at::kByte), {}, {},
           impl.getStreamFromGlobalPool(dev)};
    at::TensorOptions pinned = at::TensorOptions().dtype(at::kByte).pinned_memory(true);
    for (size_t i = 0; i < p.nbuf; i++) {
        r.bufs.push_back(at::empty({(int64_t)p.chunk}, pinned));
        r.events.emplace_back(dev.type());
    }
    // t was allocated in the order of its device's current stream: the
    // ring's stream starts after what is queued there.
    c10::Event ready(dev.type());
    ready.record(impl.getStream(dev));
    ready.block(r.stream);
    try {
        lgt_ring_run(p, n, &ring_ops, &r);
    } catch (...) {
        try {
            r.stream.synchronize(); // nothing may still write into t
        } catch (...) {
        }
        throw;
    }
    r.stream.synchronize();
}
// GCOVR_EXCL_STOP

// Host bytes into t: a memcpy on the CPU, the ring to a GPU for
// LGT_RING_MIN_BYTES and more, else one copy_.
void write_host(lgt_tensor *t, const void *src, size_t n)
{
    if (t->t.is_cpu() && t->t.is_contiguous()) {
        std::memcpy(t->t.data_ptr(), src, n);
        return;
    }
    if (t->t.is_cuda() && t->t.is_contiguous() && lgt_ring_plan_for(n, t->pool->staging).nbuf) {
        ring_write(t->t, src, n, t->pool->staging); // GCOVR_EXCL_LINE: on a CUDA device
        return;                                     // GCOVR_EXCL_LINE
    }
    at::Tensor host = at::from_blob(const_cast<void *>(src), t->t.sizes(),
                                    at::TensorOptions().dtype(t->t.scalar_type()));
    t->t.copy_(host);
}

// Before t is written: a tensor over borrowed host memory gets memory of
// its own (the borrowed bytes are read-only, and stay as they are).
void own(lgt_tensor *t)
{
    if (!t->borrowed)
        return;
    t->t = at::empty_like(t->t, at::MemoryFormat::Contiguous);
    t->borrowed = false;
}

} // namespace

// -------------------------------------------------------------- process

extern "C" {

const char *lgt_last_error(void) { return last_error; }

const char *lgt_version(void) { return TORCH_VERSION; }

int lgt_has_device(lg_device d)
{
    try {
        switch (d.type) {
        case LG_DEV_CPU: return d.index == 0;
        case LG_DEV_CUDA:
            return d.index >= 0 && torch::cuda::is_available() &&
                   (size_t)d.index < torch::cuda::device_count();
        case LG_DEV_MPS: return d.index == 0 && at::hasMPS();
        }
    } catch (...) {
        // A device that cannot even be asked about is not usable.
    }
    return 0;
}

lg_status lgt_device_error(lg_device d)
{
    if (lgt_has_device(d))
        return LG_OK;
    PROTECT(LG_E_DEVICE, {
        // Ask libtorch to put something there, to get its own words.
        at::empty({0}).to(to_device(d));
        return set_error(LG_E_DEVICE, "device is not available");
    })
}

lg_status lgt_probe_direct(lg_device d)
{
    PROTECT(LG_E_DEVICE, {
        at::Tensor x = at::arange(4, at::kFloat);
        torch::serialize::OutputArchive out;
        out.write("x", x, false);
        std::ostringstream os;
        out.save_to(os);
        std::string buf = os.str();
        torch::serialize::InputArchive in;
        in.load_from(buf.data(), buf.size(), to_device(d));
        at::Tensor y;
        in.read("x", y);
        if (y.device().type() != to_device(d).type())
            return set_error(LG_E_DEVICE, "the tensor was loaded onto " + y.device().str());
        if (!at::equal(y.to(at::kCPU), x))
            return set_error(LG_E_DEVICE, "the tensor loaded with different values");
        return LG_OK;
    })
}

void lgt_set_threads(int n)
{
    try {
        at::set_num_threads(n);
    } catch (...) {
        // Best effort: the count of threads is a hint.
    }
}

// ----------------------------------------------------------------- pool

lg_status lgt_pool_new(lgt_pool **out)
{
    PROTECT(LG_E_BACKEND, {
        *out = new lgt_pool();
        return LG_OK;
    })
}

void lgt_pool_release(lgt_pool *p)
{
    if (!p)
        return;
    bool last;
    {
        std::lock_guard<std::mutex> g(p->mu);
        p->released = true;
        last = p->live == 0;
    }
    if (last)
        delete p;
}

size_t lgt_pool_live(lgt_pool *p)
{
    std::lock_guard<std::mutex> g(p->mu);
    return p->live;
}

uint64_t lgt_pool_bytes(lgt_pool *p, lg_device d)
{
    std::lock_guard<std::mutex> g(p->mu);
    auto it = p->bytes.find(device_key(d));
    return it == p->bytes.end() ? 0 : it->second;
}

void lgt_pool_set_staging(lgt_pool *p, uint64_t bytes) { p->staging = bytes; }

// -------------------------------------------------------------- tensors

namespace {

// calloc'ed memory, freed exactly once: by the last storage over it, or
// here when no tensor could be made (the deleter's copies hold the one
// reference, as lgt_from_host's Borrowed does).
struct Zeroed {
    void *mem;
    ~Zeroed() { std::free(mem); }
};

// A zeroed cpu tensor whose pages nothing touches until it is written:
// calloc takes a large block as fresh pages from mmap and skips clearing
// them, where at::zeros writes every page and at::empty leaves the store
// to write zeros (both a pass over the memory, and RSS for all of it).
at::Tensor zeroed_cpu(const std::vector<int64_t> &sz, at::ScalarType st)
{
    uint64_t n = c10::elementSize(st);
    for (int64_t d : sz) {
        if (d < 0 || (d && n > SIZE_MAX / (uint64_t)d))
            throw std::invalid_argument("bad shape for a cpu tensor");
        n *= (uint64_t)d;
    }
    void *mem = std::calloc(1, n ? (size_t)n : 1);
    if (!mem) // as libtorch's own allocator says it (classify: LG_E_NOMEM)
        throw std::runtime_error("DefaultCPUAllocator: can't allocate memory: you tried to "
                                 "allocate " + std::to_string(n) + " bytes.");
    Zeroed *z = new (std::nothrow) Zeroed{mem};
    if (!z) {
        std::free(mem);
        throw std::bad_alloc();
    }
    std::shared_ptr<Zeroed> ref(z); // on failure z is deleted, which frees mem
    return at::from_blob(mem, sz, [ref](void *) {}, at::TensorOptions().dtype(st));
}

} // namespace

lg_status lgt_empty(lgt_pool *p, lg_device d, lg_dtype t, int ndim, const int64_t *shape,
                    lgt_tensor **out)
{
    at::ScalarType st;
    if (!to_scalar(t, &st) || ndim < 0 || ndim > LG_MAX_DIMS)
        return set_error(LG_E_INVALID, "bad dtype or number of dimensions");
    if (!lgt_has_device(d))
        return lgt_device_error(d);
    PROTECT(LG_E_DEVICE, {
        at::TensorOptions o = at::TensorOptions().dtype(st).device(to_device(d));
        at::Tensor x = d.type == LG_DEV_CPU ? zeroed_cpu(dims(ndim, shape), st)
                                            : at::empty(dims(ndim, shape), o);
        *out = adopt(p, x);
        return LG_OK;
    })
}

void lgt_free(lgt_tensor *t)
{
    if (!t)
        return;
    lgt_pool *p = t->pool;
    bool last;
    {
        std::lock_guard<std::mutex> g(p->mu);
        p->live--;
        p->bytes[device_key(t->dev)] -= t->nbytes;
        last = p->released && p->live == 0;
    }
    delete t;
    if (last)
        delete p;
}

namespace {

// One reference on borrowed host memory, let go exactly once: when the
// last tensor over it goes, or when none could be made.
struct Borrowed {
    void (*release)(void *);
    void *ctx;
    ~Borrowed() { release(ctx); }
};

} // namespace

lg_status lgt_from_host(lgt_pool *p, lg_dtype t, int ndim, const int64_t *shape,
                        const void *data, size_t n, void (*release)(void *ctx), void *ctx,
                        lgt_tensor **out)
{
    Borrowed *b = new (std::nothrow) Borrowed{release, ctx};
    if (!b) {
        release(ctx);
        return set_error(LG_E_NOMEM, "out of memory (std::bad_alloc)");
    }
    std::shared_ptr<Borrowed> ref;
    try {
        ref.reset(b); // on failure b is deleted, which lets go
    } catch (...) {
        return set_error(LG_E_NOMEM, "out of memory (std::bad_alloc)");
    }
    at::ScalarType st;
    if (!to_scalar(t, &st) || ndim < 0 || ndim > LG_MAX_DIMS || (ndim && !shape))
        return set_error(LG_E_INVALID, "bad dtype or number of dimensions");
    size_t es = c10::elementSize(st);
    if ((uintptr_t)data % es)
        return set_error(LG_E_INVALID, "host bytes at " + std::to_string((uintptr_t)data) +
                                           " are not aligned to " + std::to_string(es));
    PROTECT(LG_E_BACKEND, {
        std::vector<int64_t> sz = dims(ndim, shape);
        uint64_t numel = 1;
        for (int64_t d : sz)
            numel *= (uint64_t)d;
        if (numel * es != n)
            return set_error(LG_E_INVALID, std::to_string(n) + " host bytes for a tensor of " +
                                               std::to_string(numel * es));
        // from_blob's deleter holds the reference: the memory stays while
        // the storage does, whoever frees the tensor last
        at::Tensor x = at::from_blob(const_cast<void *>(data), sz, [ref](void *) {},
                                     at::TensorOptions().dtype(st));
        ref.reset();
        lgt_tensor *h = adopt(p, x);
        h->borrowed = true;
        *out = h;
        return LG_OK;
    })
}

lg_status lgt_write(lgt_tensor *t, const void *src, size_t n)
{
    if (n != t->nbytes)
        return set_error(LG_E_INVALID, "write of " + std::to_string(n) +
                                           " bytes into a tensor of " +
                                           std::to_string(t->nbytes));
    if (n == 0)
        return LG_OK;
    PROTECT(LG_E_DEVICE, {
        at::NoGradGuard no_grad;
        own(t);
        write_host(t, src, n);
        return LG_OK;
    })
}

lg_status lgt_read(lgt_tensor *t, void *dst, size_t n)
{
    if (n != t->nbytes)
        return set_error(LG_E_INVALID, "read of " + std::to_string(n) +
                                           " bytes from a tensor of " +
                                           std::to_string(t->nbytes));
    if (n == 0)
        return LG_OK;
    PROTECT(LG_E_DEVICE, {
        at::Tensor host = t->t.to(at::kCPU).contiguous();
        std::memcpy(dst, host.data_ptr(), n);
        return LG_OK;
    })
}

lg_status lgt_copy(lgt_tensor *dst, lgt_tensor *src)
{
    // copy_ would broadcast a [1] into a [4] and convert dtypes; the core
    // promises equal shapes and dtypes, and this refuses anything else.
    if (dst->t.scalar_type() != src->t.scalar_type())
        return set_error(LG_E_DTYPE, std::string("copy between dtypes ") +
                                         c10::toString(src->t.scalar_type()) + " and " +
                                         c10::toString(dst->t.scalar_type()));
    if (dst->t.numel() != src->t.numel() || !dst->t.sizes().equals(src->t.sizes()))
        return set_error(LG_E_SHAPE, "copy between shapes " + c10::str(src->t.sizes()) + " and " +
                                         c10::str(dst->t.sizes()) + " (never broadcast)");
    PROTECT(LG_E_DEVICE, {
        at::NoGradGuard no_grad;
        own(dst);
        // a CPU tensor to a GPU goes through the ring
        if (src->t.is_cpu() && dst->t.is_cuda() && src->t.is_contiguous() &&
            !src->t.is_pinned() && dst->nbytes == src->nbytes)
            write_host(dst, src->t.data_ptr(), (size_t)src->nbytes);
        else
            dst->t.copy_(src->t);
        return LG_OK;
    })
}

lg_status lgt_device_of(lgt_tensor *t, lg_device *out)
{
    PROTECT(LG_E_DEVICE, {
        if (!from_device(t->t.device(), out))
            return set_error(LG_E_DEVICE,
                             "tensor is on an unexpected device " + t->t.device().str());
        return LG_OK;
    })
}

void *lgt_host_data(lgt_tensor *t)
{
    return t && !t->borrowed ? const_cast<void *>(lgt_host_bytes(t)) : nullptr;
}

const void *lgt_host_bytes(lgt_tensor *t)
{
    if (!t || t->nbytes == 0)
        return nullptr;
    try {
        if (!t->t.is_cpu() || !t->t.is_contiguous() || (uint64_t)t->t.nbytes() != t->nbytes)
            return nullptr;
        return t->t.data_ptr();
    } catch (...) {
        return nullptr; // a tensor libtorch cannot describe is written by copy
    }
}

// ------------------------------------------------------------- archives
// In a file of its own, part of this translation unit.
#include "backend/torch_shim_archives.inc"

} // extern "C"
