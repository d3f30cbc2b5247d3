#include "apps/mpi_ranks.hpp"

#include <cstdlib>

#ifdef PATHKERNEL_MPI
#include <mpi.h>
#endif

namespace pk::app {

namespace {
std::int64_t sent = 0;
#ifdef PATHKERNEL_MPI
// Launched by mpirun (Open MPI, MPICH or Slurm's PMI): otherwise a plain run does not start MPI,
// so a build with MPI behaves as one without it.
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(name)) return true;
  return false;
}
#endif
}  // namespace

Ranks mpi_ranks() {
  Ranks r;
#ifdef PATHKERNEL_MPI
  int started = 0;
  MPI_Initialized(&started);
  if (!started) {
    if (!launched_by_mpi()) return r;
    MPI_Init(nullptr, nullptr);
    std::atexit([] {
      int finished = 0;
      MPI_Finalized(&finished);
      if (!finished) MPI_Finalize();
    });
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &r.size);
#endif
  return r;
}

int mpi_failures(bool ok) {
  int failed = ok ? 0 : 1;
#ifdef PATHKERNEL_MPI
  if (mpi_ranks().size > 1) {
    int total = 0;
    MPI_Allreduce(&failed, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    sent += static_cast<std::int64_t>(sizeof(int));
    failed = total;
  }
#endif
  return failed;
}

std::int64_t mpi_bytes_sent() { return sent; }

}  // namespace pk::app
