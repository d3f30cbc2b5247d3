#pragma once
// Whole files written so that a reader never sees half of one: the bytes go to a temporary
// sibling, which is renamed over the target when complete.

#include <filesystem>
#include <functional>
#include <ostream>
#include <string_view>

namespace pk::io {

/// Writes `text` to `path` (created or truncated); throws IoError naming the file on failure.
void write_text_file(const std::filesystem::path& path, std::string_view text);

/// Replaces `path` with what `write` puts into a stream, atomically: written to a temporary sibling
/// and renamed over `path` when complete. On failure the temporary file is removed and `path` is
/// left as it was. Throws IoError naming the file.
void replace_file(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write);

/// Creates `path`, which must not exist yet, by calling `write` with a temporary sibling's path and
/// renaming it when `write` returns: a failure leaves neither file behind. Throws IoError when
/// `path` exists (before calling `write`) or cannot be written.
void create_new_file(const std::filesystem::path& path,
                     const std::function<void(const std::filesystem::path&)>& write);

}  // namespace pk::io
