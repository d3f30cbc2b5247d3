#pragma once
// Reading a whole file, bounded: what every io reader starts from.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace pk::io {

/// The largest file `read_file_bytes` reads unless told otherwise: 4 GiB. A reader that needs less
/// (a JSON document, a header) passes its own limit.
inline constexpr std::int64_t kDefaultMaxFileBytes = std::int64_t{4} << 30;

/// The file's bytes. Refuses, with an IoError naming the file: a path that cannot be opened, a
/// directory or anything else that is not a regular file (a device such as /dev/zero never ends),
/// and a file larger than `max_bytes` (checked on its size before anything is allocated).
std::string read_file_bytes(const std::filesystem::path& path, std::int64_t max_bytes = kDefaultMaxFileBytes);

/// The text of a kernel pseudo-file such as /proc/meminfo, which reports a size of 0 and is read
/// to its end: at most `max_bytes` bytes (more is refused with an IoError, as is a path that
/// cannot be opened or is not a regular file).
std::string read_pseudo_file(const std::filesystem::path& path, std::int64_t max_bytes = 1 << 20);

/// At most `max_chars` characters of `text` in single quotes, with control characters and other
/// bytes below 0x20 or equal to 0x7f written as \xNN: how every reader quotes an offending piece of a
/// file in its message, so that a file cannot write terminal escape sequences through an error.
std::string quote_for_message(std::string_view text, std::size_t max_chars = 80);

}  // namespace pk::io
