#pragma once
// Where the built-in data sets (`--data iris`) are found. They are ordinary CSV files installed
// with the command, under share/pathkernel beside its bin directory, and copied to the same
// place relative to the command in the build tree, so the command finds them wherever its tree
// is installed or moved without any path compiled in.

#include <filesystem>
#include <string>
#include <vector>

namespace pk::app {

/// The directories searched, in order: $PATHKERNEL_DATA_DIR when set, then the data directory
/// relative to the running executable (/proc/self/exe).
std::vector<std::filesystem::path> builtin_data_directories();

/// The file of built-in data set `name` ("iris" -> .../iris.csv). Throws UsageError naming every
/// place searched when it is in none of them.
std::filesystem::path builtin_data_file(const std::string& name);

}  // namespace pk::app
