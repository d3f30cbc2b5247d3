#pragma once
// Sizes a user asks for are checked against the machine before the work starts: the memory a
// command will hold and the disk a trajectory will take are estimated, and a run that would not
// fit is refused with the estimate, instead of failing (or being killed) half-way.

#include <cstdint>
#include <filesystem>
#include <string>

namespace pk::app {

/// Memory this process may still take: the kernel's MemAvailable, or the physical memory when
/// that is not known.
double available_memory_bytes();

/// Throws UsageError saying `what` needs about `bytes` of memory when that is more than
/// `share` of the available memory.
void require_memory(double bytes, const std::string& what, double share = 0.8);

/// Throws UsageError when the file system of `where` (or of its nearest existing parent) has
/// less than `bytes` free.
void require_disk(const std::filesystem::path& where, double bytes, const std::string& what);

/// "3.2 GiB", "640 MiB", "12 KiB".
std::string byte_text(double bytes);

}  // namespace pk::app
