#pragma once
// Counting every heap allocation of this thread, for the tests that promise none. The counting
// replaces the global operator new (allocation_counter.cpp), except in sanitizer builds, which
// keep their own allocator: there `counts_allocations` is false and the count stays 0.

#include <cstdint>

namespace pk::test {

/// Whether this build counts allocations.
bool counts_allocations();
/// Heap allocations made by this thread so far.
std::int64_t allocations_on_this_thread();

}  // namespace pk::test
