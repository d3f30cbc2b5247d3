#pragma once
// The one way work is spread over threads: independent items handed out in index order to a
// fixed number of threads. Every caller writes its results by index, so a result never depends
// on the thread count.

#include <cstddef>

#include "autodiff/function_ref.hpp"

namespace pk::kernel {

/// Calls body(i) for every i in [0, count) on min(threads, count) threads, the calling thread
/// among them. After the first exception no further index is handed out; once every thread has
/// joined, that exception is rethrown. `body` must be safe to call concurrently for different i.
void parallel_for(std::size_t count, int threads, pk::ad::FunctionRef<void(std::size_t)> body);

}  // namespace pk::kernel
