#include "tests/autodiff/allocation_counter.hpp"

#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define PK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PK_SANITIZED 1
#endif
#endif

namespace {
thread_local std::int64_t g_allocations = 0;
}  // namespace

namespace pk::test {
#ifdef PK_SANITIZED
bool counts_allocations() { return false; }
#else
bool counts_allocations() { return true; }
#endif
std::int64_t allocations_on_this_thread() { return g_allocations; }
}  // namespace pk::test

#ifndef PK_SANITIZED
namespace {
// Out of line: inlined into callers, GCC's -Wmismatched-new-delete takes this malloc/free pair
// for a new/free mismatch.
[[gnu::noinline]] void release(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void* acquire(std::size_t n, std::size_t align) {
  ++g_allocations;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n ? n : 1)
                                               : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return acquire(n, alignof(std::max_align_t)); }
void* operator new[](std::size_t n) { return acquire(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return acquire(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return acquire(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
#endif
