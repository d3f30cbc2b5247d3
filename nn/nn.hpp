#pragma once
// The whole public API of pathkernel's nn module: models as a layout plus a pure function
// f(x; w) of one flat parameter vector, losses with their output derivatives, gradient-descent
// training with observers and recorded trajectories, and data.

#include "io/npy.hpp"            // .npy reading, writing and streaming
#include "nn/activation.hpp"     // tanh, relu, sigmoid, softplus, gelu, identity by name
#include "nn/architecture.hpp"   // layered models: conv2d, pooling, flatten, linear
#include "nn/batching.hpp"       // full batch or seeded mini-batches
#include "nn/csv_dataset.hpp"    // datasets from strict CSV files
#include "nn/dataset.hpp"        // Dataset, standardisation, train/test split
#include "nn/dense_chain.hpp"    // which models are chains of dense layers
#include "nn/error.hpp"          // the exceptions
#include "nn/init.hpp"           // PyTorch default, Xavier, He, or .npy
#include "nn/layers.hpp"         // linear (nn.Linear layout)
#include "nn/layout.hpp"         // which slice of w is which tensor
#include "nn/loss.hpp"           // mse, binary and softmax cross-entropy, and L'
#include "nn/mlp.hpp"            // MLPs from "2-16-16-1"
#include "nn/model.hpp"          // Model, per-sample evaluation and Jacobians
#include "nn/optimizer.hpp"      // gradient descent, momentum, Adam
#include "nn/random.hpp"         // the project's own generator and distributions
#include "nn/schedule.hpp"       // learning-rate schedules
#include "nn/synthetic.hpp"      // sine, two moons, spirals, XOR, double well
#include "nn/trainer.hpp"        // Trainer, StepObserver, StepView
#include "nn/training_loss.hpp"  // the training loss as a function of the weights
#include "nn/trajectory.hpp"     // in-memory and on-disk trajectories
