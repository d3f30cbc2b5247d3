#pragma once
// The whole public API of pathkernel's automatic differentiation.

#include "autodiff/check.hpp"       // finite-difference checks of gradients and HVPs
#include "autodiff/error.hpp"       // the exceptions
#include "autodiff/functional.hpp"  // grad, hvp, hessian, jacobian, jvp, vjp of f(w)
#include "autodiff/grad.hpp"        // tape-level gradients, create_graph, seeds
#include "autodiff/ops.hpp"         // the op set
#include "autodiff/shape.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
