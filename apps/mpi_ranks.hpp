#pragma once
// The processes of an MPI launch (`mpirun -np R pathkernel decompose ...`) as the commands see
// them. Built without MPI (PATHKERNEL_MPI off), there is one rank and every call is trivial, so
// the commands read the same either way.

#include <cstdint>
#include <string>

namespace pk::app {

/// This process's place among the ranks of the launch.
struct Ranks {
  int rank = 0, size = 1;
  bool root() const { return rank == 0; }
};

/// Starts MPI when the build has it and the process was launched by mpirun (else one rank).
/// Idempotent; MPI is finalised at exit.
Ranks mpi_ranks();

/// Every rank says whether its part succeeded; returns how many failed (0 on all ranks when all
/// succeeded). A collective: every rank must call it the same number of times.
int mpi_failures(bool ok);

/// Bytes this process sent to other ranks so far (for the scaling figures).
std::int64_t mpi_bytes_sent();

}  // namespace pk::app
