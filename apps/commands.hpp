#pragma once
// The subcommands of `pathkernel`. Each takes the arguments after its name and returns the exit
// status; bad input is thrown as an exception that main turns into one line and status 2.

#include <string>
#include <vector>

namespace pk::app {

using Args = std::vector<std::string>;

/// `train`'s exit status when the run diverged: the directory holds its finite prefix.
inline constexpr int kExitDiverged = 3;

int demo_command(const Args& args);       // demo.cpp: the default job
int train_command(const Args& args);      // train.cpp
int decompose_command(const Args& args);  // decompose.cpp
int merge_command(const Args& args);      // merge.cpp
int sweep_command(const Args& args);      // sweep.cpp
int kernel_command(const Args& args);     // kernel_command.cpp
int sharpness_command(const Args& args);  // sharpness_command.cpp

}  // namespace pk::app
