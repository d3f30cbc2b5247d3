// Layered models: the grammar, inferred shapes and the messages naming a layer that does not
// fit, PyTorch's values and flat gradients for conv/pool networks (layered_fixtures.inc, written
// by make_layered_fixtures.py), and a conv net's run directory rebuilt from run.json.
#include "nn/architecture.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>

#include "autodiff/autodiff.hpp"
#include "nn/dense_chain.hpp"
#include "nn/error.hpp"
#include "nn/init.hpp"
#include "nn/trainer.hpp"
#include "nn/trajectory.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

constexpr const char* kDigitsNet =
    "conv2d(4,3,padding=1),tanh,avg_pool2d(2),conv2d(8,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10)";

TEST(Architecture, InfersShapesAndLaysOutParametersAsPyTorch) {
  const Architecture a = parse_architecture(kDigitsNet, {1, 8, 8});
  const ArchitectureShapes s = infer_shapes(a);
  EXPECT_EQ(s.outputs[0], (std::vector<std::int64_t>{4, 8, 8}));
  EXPECT_EQ(s.outputs[2], (std::vector<std::int64_t>{4, 4, 4}));
  EXPECT_EQ(s.outputs[5], (std::vector<std::int64_t>{8, 2, 2}));
  EXPECT_EQ(s.outputs[6], (std::vector<std::int64_t>{32}));
  EXPECT_EQ(a.layers[3].in, 4);
  EXPECT_EQ(a.layers[7].in, 32);
  const Model m = sequential(a);
  EXPECT_EQ(m.parameter_count(), 4 * 9 + 4 + 8 * 4 * 9 + 8 + 32 * 10 + 10);
  EXPECT_EQ(m.input_dim(), 64);
  EXPECT_EQ(m.output_dim(), 10);
  EXPECT_FALSE(dense_chain(m).has_value());
  ASSERT_NE(m.architecture(), nullptr);
  EXPECT_EQ(*m.architecture(), a);
  const auto& b = m.layout().blocks();
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(b[2].name, "layer1.weight");
  EXPECT_EQ(b[2].shape, ad::Shape::matrix(8, 36));
  EXPECT_EQ(b[2].fan_in, 36);
  EXPECT_EQ(b[2].offset, 40);
  // The text reads back to the same layers.
  EXPECT_EQ(parse_architecture(a.str().substr(a.str().find(' ') + 1), {1, 8, 8}), a);
}

TEST(Architecture, AnMlpIsOneCaseOfIt) {
  const Architecture a = parse_architecture("linear(16),relu,linear(3)", {4});
  ASSERT_TRUE(a.as_mlp().has_value());
  EXPECT_EQ(*a.as_mlp(), parse_mlp_spec("4-16-3", "relu"));
  const Model m = sequential(a);
  EXPECT_EQ(m.name(), "mlp 4-16-3 relu");
  ASSERT_NE(m.architecture(), nullptr);
  EXPECT_EQ(*m.architecture(), a);
  EXPECT_EQ(mlp("4-16-3", "relu").name(), m.name());
  EXPECT_FALSE(parse_architecture("linear(16),relu,linear(8),tanh,linear(3)", {4}).as_mlp().has_value());
  EXPECT_FALSE(parse_architecture("linear(16),relu,linear(3),tanh", {4}).as_mlp().has_value());
}

TEST(Architecture, ABadSpecNamesTheLayer) {
  const std::vector<std::int64_t> img{1, 8, 8};
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(4,3),swish,flatten,linear(2)", img), SpecError,
                       "layer 1 'swish': unknown layer 'swish'");
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(0,3),flatten,linear(2)", img), SpecError,
                       "layer 0 'conv2d(0,3)': the output channels must be a positive integer");
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(4,9),flatten,linear(2)", img), SpecError,
                       "layer 0 'conv2d(4,9)': kernel 9 is larger than its (padded) input 1x8x8");
  PK_EXPECT_THROW_WITH(parse_architecture("avg_pool2d(2),max_pool2d(5),flatten,linear(2)", img), SpecError,
                       "layer 1 'max_pool2d(5)': kernel 5 is larger than its input 1x4x4");
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(4,3),linear(2)", img), SpecError,
                       "layer 1 'linear(2)': takes a vector but its input is an image 4x6x6 (add flatten");
  PK_EXPECT_THROW_WITH(parse_architecture("flatten,conv2d(2,1)", img), SpecError,
                       "layer 1 'conv2d(2,1)': takes images");
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(4,3)", img), SpecError, "the model ends with images 4x6x6");
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(4,3,stride=0),flatten,linear(2)", img), SpecError,
                       "the stride must be a positive integer, got 0");
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(4,3,dilation=2),flatten,linear(2)", img), SpecError,
                       "conv2d has no constant 'dilation'");
  PK_EXPECT_THROW_WITH(parse_architecture("conv2d(4,x),flatten,linear(2)", img), SpecError,
                       "'x' is not an integer");
  PK_EXPECT_THROW_WITH(parse_architecture("linear(2),,linear(1)", {3}), SpecError,
                       "layer 1 of 'linear(2),,linear(1)' is empty");
  PK_EXPECT_THROW_WITH(parse_architecture("flatten(2),linear(1)", {3}), SpecError,
                       "'flatten' takes no constants");
  PK_EXPECT_THROW_WITH(parse_input_shape("1x0x8"), SpecError, "'0' is not a positive integer");
  PK_EXPECT_THROW_WITH(parse_input_shape("2x8"), SpecError, "give C x H x W");
  const Architecture pool = parse_architecture("max_pool2d(3,stride=1),flatten,linear(1)", img);
  EXPECT_EQ(pool.layers[0].stride, 1);
  EXPECT_EQ(parse_architecture("avg_pool2d(2),flatten,linear(1)", img).layers[0].stride, 2);
}

// x = [1 2 3; 4 5 6; 7 8 9] through conv2d(2,2) with W0 = [1 2; 3 4], b0 = 0.5 and
// W1 = [0 1; 0 -1], b1 = -1, then a 2 x 2 pool, flatten and linear(1) with V = [2 -3], c = 0.25.
// Channel 0's windows give 37.5, 47.5, 67.5, 77.5 and channel 1's -4 everywhere (x(i,j+1) -
// x(i+1,j+1) = -3, plus b1). Average pooling: 57.5 and -4, so y = 2 * 57.5 + 12 + 0.25. The
// gradient in w: dy/dW0 is 2 times each tap's mean over the windows (3, 4, 6, 7), dy/dW1 is -3
// times it, dy/db = (2, -3), dy/dV = the pooled values, dy/dc = 1. Max pooling picks window
// (1,1) of channel 0 (77.5) and, all four tied, window (0,0) of channel 1 (taps 1, 2, 4, 5).
TEST(Architecture, ASmallConvNetWorkedByHand) {
  const ad::Tensor x = ad::Tensor::matrix(1, 9, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const ad::Tensor w = ad::Tensor::vector({1, 2, 3, 4, 0, 1, 0, -1, 0.5, -1, 2, -3, 0.25});
  struct Case {
    const char* arch;
    double y;
    std::vector<double> g;
  };
  const Case cases[] = {
      {"conv2d(2,2),avg_pool2d(2),flatten,linear(1)",
       127.25,
       {6, 8, 12, 14, -9, -12, -18, -21, 2, -3, 57.5, -4, 1}},
      {"conv2d(2,2),max_pool2d(2),flatten,linear(1)",
       167.25,
       {10, 12, 16, 18, -3, -6, -12, -15, 2, -3, 77.5, -4, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arch);
    const Model m = sequential(parse_architecture(c.arch, {1, 3, 3}));
    ASSERT_EQ(m.parameter_count(), 13);
    EXPECT_EQ(evaluate(m, x, w)[0], c.y);
    const ad::Tensor g =
        ad::grad([&](ad::Var wv) { return ad::sum(m.forward(wv.tape().constant(x), wv)); }, w);
    ASSERT_EQ(g.size(), 13);
    for (std::int64_t i = 0; i < 13; ++i)
      EXPECT_EQ(g[i], c.g[static_cast<std::size_t>(i)]) << "element " << i;
  }
}

struct Fixture {
  std::string shape, arch;
  std::map<std::string, std::vector<double>> t;
};

std::vector<Fixture> fixtures() {
  static const char* text =
#include "tests/nn/layered_fixtures.inc"
      ;
  std::vector<Fixture> out;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    if (word == "case") {
      out.emplace_back();
      in >> out.back().shape >> out.back().arch;
      continue;
    }
    std::size_t n = 0;
    in >> n;
    std::vector<double>& v = out.back().t[word];
    v.resize(n);
    for (double& x : v) in >> x;
  }
  return out;
}

double max_relative(std::span<const double> a, const std::vector<double>& b) {
  double scale = 0.0, err = 0.0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, std::abs(b[i]));
    err = std::max(err, std::abs(a[i] - b[i]));
  }
  return err / scale;
}

TEST(Architecture, ValuesAndFlatGradientsAreThoseOfPyTorch) {
  const std::vector<Fixture> cases = fixtures();
  ASSERT_EQ(cases.size(), 3u);
  for (const Fixture& c : cases) {
    SCOPED_TRACE(c.shape + " " + c.arch);
    const Model m = sequential(parse_architecture(c.arch, parse_input_shape(c.shape)));
    const std::vector<double>& wv = c.t.at("w");
    ASSERT_EQ(static_cast<std::int64_t>(wv.size()), m.parameter_count());
    const std::int64_t n = static_cast<std::int64_t>(c.t.at("x").size()) / m.input_dim();
    const ad::Tensor w = ad::Tensor::vector(wv);
    const ad::Tensor x = ad::Tensor::matrix(n, m.input_dim(), c.t.at("x"));
    const ad::Tensor r = ad::Tensor::matrix(n, m.output_dim(), c.t.at("r"));
    const ad::Tensor y = evaluate(m, x, w);
    EXPECT_LT(max_relative(y.span(), c.t.at("y")), 1e-12);
    const ad::Tensor g = ad::grad(
        [&](ad::Var wvar) {
          return ad::sum(ad::mul(m.forward(wvar.tape().constant(x), wvar), wvar.tape().constant(r)));
        },
        w);
    EXPECT_LT(max_relative(g.span(), c.t.at("g")), 1e-12);
  }
}

TEST(Architecture, AConvNetRunIsRebuiltFromRunJson) {
  const testing::ScratchDir dir;
  const Model model =
      sequential(parse_architecture("conv2d(2,3,padding=1),tanh,max_pool2d(2),flatten,linear(3)", {1, 4, 4}));
  ad::Tensor inputs(ad::Shape::matrix(6, 16)), targets(ad::Shape::matrix(6, 1));
  for (std::int64_t i = 0; i < inputs.size(); ++i) inputs[i] = std::sin(0.7 * static_cast<double>(i));
  for (std::int64_t i = 0; i < 6; ++i) targets[i] = static_cast<double>(i % 3);
  Dataset data(inputs, targets);
  Trainer trainer(model, Loss(LossKind::softmax_cross_entropy), data, {.steps = 3});
  DiskTrajectoryRecorder disk(dir / "run");
  trainer.add_observer(disk);
  trainer.run(initialise(model.layout(), InitScheme::pytorch_default, 3));
  const std::string text = testing::read_file(dir / "run" / "run.json");
  const auto j = nlohmann::ordered_json::parse(text);
  EXPECT_EQ(j["model"]["input_shape"], nlohmann::ordered_json({1, 4, 4}));
  EXPECT_EQ(j["model"]["layers"][0],
            nlohmann::ordered_json::parse(
                R"({"type": "conv2d", "in": 1, "out": 2, "kernel": 3, "stride": 1, "padding": 1})"));
  EXPECT_EQ(j["model"]["layers"][2],
            nlohmann::ordered_json::parse(R"({"type": "max_pool2d", "kernel": 2, "stride": 2})"));
  const TrajectoryReader reader(dir / "run");
  ASSERT_NE(reader.model().architecture(), nullptr);
  EXPECT_EQ(*reader.model().architecture(), *model.architecture());
  EXPECT_EQ(reader.steps(), 3);
  // Strict: an unknown type or a bad constant is refused naming the member.
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    testing::write_file(dir / "run" / "run.json", t);
  };
  edited("\"max_pool2d\"", "\"min_pool2d\"");
  PK_EXPECT_THROW_WITH(TrajectoryReader{dir / "run"}, io::JsonError,
                       "\"model.layers[2].type\" is \"min_pool2d\"");
  edited("\"padding\": 1", "\"padding\": -1");
  PK_EXPECT_THROW_WITH(TrajectoryReader{dir / "run"}, io::JsonError, "\"model.layers[0].padding\" is -1");
  edited("\"kernel\": 3", "\"kernel\": 7");
  PK_EXPECT_THROW_WITH(TrajectoryReader{dir / "run"}, io::JsonError,
                       "kernel 7 is larger than its (padded) input 1x4x4");
  edited("\"padding\": 1", "\"padding\": 1, \"dilation\": 2");
  PK_EXPECT_THROW_WITH(TrajectoryReader{dir / "run"}, io::JsonError, "has a member \"dilation\"");
  edited("\"padding\": 1", "\"padding\": 0");
  PK_EXPECT_THROW_WITH(TrajectoryReader{dir / "run"}, io::JsonError,
                       "layer 4 'linear(3)': takes 8 features but its input has 2");
}

}  // namespace
}  // namespace pk::nn
