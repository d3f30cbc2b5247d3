#pragma once
// What the kernel module needs of a model: f(x; w) as recorded autodiff ops.

#include "autodiff/function_ref.hpp"
#include "autodiff/tape.hpp"

namespace pk::kernel {

/// A model as a function of a batch of inputs x (batch x features, a recorded constant) and the
/// flat parameter vector w, returning the batch x C outputs. Built-in networks and user-defined
/// models alike are used through this; rows of the batch must not interact (a per-sample model),
/// which is what makes a batch of query points a batch of independent predictions.
using ModelFunction = pk::ad::FunctionRef<pk::ad::Var(pk::ad::Var x, pk::ad::Var w)>;

}  // namespace pk::kernel
