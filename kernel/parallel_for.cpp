#include "kernel/parallel_for.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace pk::kernel {

void parallel_for(std::size_t count, int threads, pk::ad::FunctionRef<void(std::size_t)> body) {
  std::atomic<std::size_t> next{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = count;  // stop handing out items
      }
    }
  };
  const auto wanted = static_cast<std::size_t>(std::max(1, threads));
  const std::size_t used = std::max<std::size_t>(1, std::min(wanted, count));
  std::vector<std::thread> pool;
  pool.reserve(used - 1);
  for (std::size_t t = 1; t < used; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace pk::kernel
