// pathkernel kernel: the tangent kernel between two point sets at one step of a recorded run.
#include <cstdio>
#include <filesystem>

#include "apps/commands.hpp"
#include "apps/report_page.hpp"
#include "apps/setup.hpp"
#include "kernel/model_tangent_kernel.hpp"

namespace pk::app {

int kernel_command(const Args& args) {
  Options o("kernel",
            "Writes the tangent kernel K_k(a, b) = J_k(a) J_k(b)^T between two point sets at\n"
            "step k of a recorded run as a .npy matrix of (|A| C) x (|B| C): entry\n"
            "(i C + c, j C + c') is K_{c c'}(a_i, b_j).");
  o.value("run", "DIR", "a run directory written by `pathkernel train`", std::nullopt, true);
  o.value("step", "K", "the step whose weights w_k are used (0 ... N)", "0");
  o.value("points-a", "FILE.csv", "the first point set [default: the training inputs]");
  o.value("points-b", "FILE.csv", "the second point set [default: the first]");
  o.value("route", "NAME",
          "auto, jacobians (any model) or dense (Gram matrices of a chain of linear layers and activations, "
          "MLPs among them)",
          "auto");
  o.value("out", "FILE.npy", "where to write the kernel", std::nullopt, true);
  if (!o.parse(args)) return 0;
  if (std::filesystem::exists(o.text("out")))  // before the work, not after it
    throw UsageError("--out " + o.text("out") + ": already exists; choose another name or remove it");
  const pk::nn::TrajectoryReader reader(o.text("run"));
  const pk::nn::Trajectory& run = reader.facts();
  const pk::nn::Model& model = reader.model();
  const std::int64_t k = o.integer("step", 0);
  if (k > reader.steps())
    throw UsageError("--step " + std::to_string(k) + ": the run has weights w_0 ... w_" +
                     std::to_string(reader.steps()));
  pk::ad::Tensor w(pk::ad::Shape::vector(model.parameter_count()));
  reader.read_weights(k, w.span());
  const pk::ad::Tensor inputs(run.training_inputs());
  const pk::ad::Tensor a = o.given("points-a") ? load_run_points(o, "points-a", run) : inputs;
  const pk::ad::Tensor b = o.given("points-b") ? load_run_points(o, "points-b", run) : a;
  const std::string route_name = o.text("route");
  pk::kernel::KernelRoute route = pk::kernel::KernelRoute::automatic;
  if (route_name == "jacobians")
    route = pk::kernel::KernelRoute::jacobians;
  else if (route_name == "dense")
    route = pk::kernel::KernelRoute::dense_grams;
  else if (route_name != "auto")
    throw UsageError("--route: expected auto, jacobians or dense, got '" + route_name + "'");
  pk::ad::Tape tape;
  const pk::ad::Tensor kernel = pk::kernel::model_tangent_kernel(model, a, b, w, tape, route);
  const std::filesystem::path out = o.text("out");
  write_new_file(out, [&](const std::filesystem::path& p) { pk::io::write_npy(p, kernel); });
  std::printf("tangent kernel at step %lld: %lld x %lld -> %s\n", static_cast<long long>(k),
              static_cast<long long>(kernel.shape().dim(0)), static_cast<long long>(kernel.shape().dim(1)),
              out.string().c_str());
  std::printf("points: %s\n", point_space(o, o.given("points-a") ? "points-a" : "points-b", run).c_str());
  return 0;
}

}  // namespace pk::app
