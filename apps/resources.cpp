#include "apps/resources.hpp"

#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <system_error>

#include "apps/arguments.hpp"
#include "io/error.hpp"
#include "io/file_bytes.hpp"

namespace pk::app {

double available_memory_bytes() {
  std::string text;
  try {
    text = pk::io::read_pseudo_file("/proc/meminfo");
  } catch (const pk::io::IoError&) {  // not Linux, or no /proc: the physical memory below
  }
  std::istringstream meminfo(text);
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream in(line.substr(13));
    double kib = 0.0;
    if (in >> kib) return kib * 1024.0;
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 1e18;
}

std::string byte_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 5) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

void require_memory(double bytes, const std::string& what, double share) {
  const double available = available_memory_bytes();
  if (bytes > share * available)
    throw UsageError(what + " needs about " + byte_text(bytes) +
                     " of memory, more than this machine has free (" + byte_text(available) +
                     " available); reduce the sizes");
}

void require_disk(const std::filesystem::path& where, double bytes, const std::string& what) {
  std::filesystem::path p = where.empty() ? std::filesystem::path(".") : where;
  std::error_code ec;
  while (!std::filesystem::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  const std::filesystem::space_info space = std::filesystem::space(p.empty() ? "." : p, ec);
  if (ec) return;  // cannot tell: let the writes report it
  if (bytes > static_cast<double>(space.available))
    throw UsageError(what + " needs about " + byte_text(bytes) + " of disk, but " + p.string() + " has " +
                     byte_text(static_cast<double>(space.available)) + " free");
}

}  // namespace pk::app
