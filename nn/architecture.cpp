#include "nn/architecture.hpp"

#include <charconv>
#include <utility>

#include "autodiff/ops.hpp"
#include "nn/error.hpp"
#include "nn/layers.hpp"

namespace pk::nn {

namespace {

// No layer's output or weight may exceed this many elements: far beyond a small network, and
// small enough that sums and products of two such sizes cannot overflow an int64.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 31;

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) t += 'x';
    t += std::to_string(s[i]);
  }
  return t;
}

std::string layer_name(std::size_t i, const LayerSpec& l) {
  return "layer " + std::to_string(i) + " '" + l.str() + "'";
}

std::int64_t product(const std::vector<std::int64_t>& s) {
  std::int64_t p = 1;
  for (const std::int64_t v : s) p *= v;
  return p;
}

std::int64_t parse_int(std::string_view text, const std::string& where) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    throw SpecError(where + ": '" + std::string(text) + "' is not an integer");
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// One "name(args)" item to a layer; constants are checked for sign by infer_shapes.
LayerSpec parse_layer(std::string_view item, std::size_t index) {
  const std::string where = "layer " + std::to_string(index) + " '" + std::string(item) + "'";
  const std::size_t open = item.find('(');
  const std::string name(trim(item.substr(0, open)));
  std::vector<std::int64_t> positional;
  std::vector<std::pair<std::string, std::int64_t>> named;
  if (open != std::string_view::npos) {
    if (item.back() != ')') throw SpecError(where + ": no closing ')'");
    std::string_view args = item.substr(open + 1, item.size() - open - 2);
    while (!args.empty()) {
      const std::size_t comma = args.find(',');
      const std::string_view arg = trim(args.substr(0, comma));
      const std::size_t eq = arg.find('=');
      if (eq == std::string_view::npos) {
        if (!named.empty()) throw SpecError(where + ": a positional constant after a named one");
        positional.push_back(parse_int(arg, where));
      } else {
        named.emplace_back(std::string(trim(arg.substr(0, eq))), parse_int(trim(arg.substr(eq + 1)), where));
      }
      if (comma == std::string_view::npos) break;
      args.remove_prefix(comma + 1);
    }
  }
  LayerSpec l;
  std::vector<std::string> slots;  // positional order
  if (name == "linear") {
    l.kind = LayerKind::linear;
    slots = {"out"};
  } else if (name == "conv2d") {
    l.kind = LayerKind::conv2d;
    l.stride = 1;
    slots = {"out", "kernel", "stride", "padding"};
  } else if (name == "avg_pool2d" || name == "max_pool2d") {
    l.kind = name == "avg_pool2d" ? LayerKind::avg_pool2d : LayerKind::max_pool2d;
    slots = {"kernel", "stride"};
  } else if (name == "flatten") {
    l.kind = LayerKind::flatten;
  } else {
    try {
      l.activation = parse_activation(name);
    } catch (const SpecError&) {
      throw SpecError(where + ": unknown layer '" + name +
                      "' (linear, conv2d, avg_pool2d, max_pool2d, flatten, or an activation: tanh, relu, "
                      "sigmoid, softplus, gelu, identity)");
    }
    l.kind = LayerKind::activation;
  }
  if (open != std::string_view::npos && slots.empty())
    throw SpecError(where + ": '" + name + "' takes no constants");
  if (positional.size() > slots.size())
    throw SpecError(where + ": " + name + " takes at most " + std::to_string(slots.size()) + " constants");
  bool stride_given = false;
  auto set = [&](const std::string& slot, std::int64_t v) {
    if (slot == "out")
      l.out = v;
    else if (slot == "kernel")
      l.kernel = v;
    else if (slot == "stride")
      (l.stride = v, stride_given = true);
    else if (slot == "padding")
      l.padding = v;
  };
  for (std::size_t i = 0; i < positional.size(); ++i) set(slots[i], positional[i]);
  for (const auto& [key, v] : named) {
    bool known = false;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (slots[i] != key) continue;
      if (i < positional.size()) throw SpecError(where + ": " + key + " given twice");
      known = true;
    }
    if (!known) throw SpecError(where + ": " + name + " has no constant '" + key + "'");
    set(key, v);
  }
  const bool needs_out = l.kind == LayerKind::linear || l.kind == LayerKind::conv2d;
  const bool needs_kernel =
      l.kind == LayerKind::conv2d || l.kind == LayerKind::avg_pool2d || l.kind == LayerKind::max_pool2d;
  if (needs_out && positional.empty() && l.out == 0)
    throw SpecError(where + ": give the number of outputs, as in " + name + "(8" +
                    (l.kind == LayerKind::conv2d ? ",3)" : ")"));
  if (needs_kernel && l.kernel == 0 &&
      !(l.kind == LayerKind::conv2d ? positional.size() >= 2 : !positional.empty()))
    throw SpecError(where + ": give the kernel size");
  if ((l.kind == LayerKind::avg_pool2d || l.kind == LayerKind::max_pool2d) && !stride_given)
    l.stride = l.kernel;
  return l;
}

ArchitectureShapes infer(Architecture& arch, bool fill) {
  ArchitectureShapes r;
  const std::vector<std::int64_t>& in = arch.input_shape;
  if (in.size() != 1 && in.size() != 3)
    throw SpecError("input shape '" + shape_text(in) +
                    "': give C x H x W for images or a width F for vectors");
  for (const std::int64_t v : in)
    if (v <= 0 || v > kMaxElements)
      throw SpecError("input shape '" + shape_text(in) + "': extents must be positive");
  if (product(in) > kMaxElements) throw SpecError("input shape '" + shape_text(in) + "' is too large");
  if (arch.layers.empty()) throw SpecError("a model needs at least one layer");
  r.input_size = product(in);
  std::vector<std::int64_t> s = in;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    LayerSpec& l = arch.layers[i];
    const std::string where = layer_name(i, l);
    auto positive = [&](std::int64_t v, const char* what) {
      if (v <= 0 || v > kMaxElements)
        throw SpecError(where + ": " + what + " must be a positive integer, got " + std::to_string(v));
    };
    auto check_in = [&](std::int64_t actual, const char* what) {
      if (l.in == 0 && fill)
        l.in = actual;
      else if (l.in != actual)
        throw SpecError(where + ": takes " + std::to_string(l.in) + " " + what + " but its input has " +
                        std::to_string(actual));
    };
    switch (l.kind) {
      case LayerKind::linear: {
        positive(l.out, "the output width");
        if (s.size() != 1)
          throw SpecError(where + ": takes a vector but its input is an image " + shape_text(s) +
                          " (add flatten before it)");
        check_in(s[0], "features");
        if (l.in * l.out > kMaxElements) throw SpecError(where + ": too many weights");
        r.parameter_count += (l.in + 1) * l.out;
        s = {l.out};
        break;
      }
      case LayerKind::conv2d: {
        positive(l.out, "the output channels");
        positive(l.kernel, "the kernel");
        positive(l.stride, "the stride");
        if (l.padding < 0 || l.padding > kMaxElements)
          throw SpecError(where + ": the padding must not be negative");
        if (s.size() != 3)
          throw SpecError(where + ": takes images (C x H x W) but its input is a vector of " + shape_text(s));
        check_in(s[0], "channels");
        if (l.kernel > s[1] + 2 * l.padding || l.kernel > s[2] + 2 * l.padding)
          throw SpecError(where + ": kernel " + std::to_string(l.kernel) +
                          " is larger than its (padded) input " + shape_text(s));
        // In double: four factors of up to 2^31 would overflow an int64 before the comparison.
        if (static_cast<double>(l.out) * static_cast<double>(l.in) * static_cast<double>(l.kernel) *
                static_cast<double>(l.kernel) >
            static_cast<double>(kMaxElements))
          throw SpecError(where + ": too many weights");
        r.parameter_count += l.out * l.in * l.kernel * l.kernel + l.out;
        s = {l.out, (s[1] + 2 * l.padding - l.kernel) / l.stride + 1,
             (s[2] + 2 * l.padding - l.kernel) / l.stride + 1};
        if (product(s) > kMaxElements) throw SpecError(where + ": output too large");
        break;
      }
      case LayerKind::avg_pool2d:
      case LayerKind::max_pool2d: {
        positive(l.kernel, "the kernel");
        positive(l.stride, "the stride");
        if (s.size() != 3)
          throw SpecError(where + ": takes images (C x H x W) but its input is a vector of " + shape_text(s));
        if (l.in != 0 && !fill) throw SpecError(where + ": has no input count");
        if (l.kernel > s[1] || l.kernel > s[2])
          throw SpecError(where + ": kernel " + std::to_string(l.kernel) + " is larger than its input " +
                          shape_text(s));
        s = {s[0], (s[1] - l.kernel) / l.stride + 1, (s[2] - l.kernel) / l.stride + 1};
        break;
      }
      case LayerKind::flatten:
        s = {product(s)};
        break;
      case LayerKind::activation:
        break;
    }
    r.outputs.push_back(s);
  }
  if (s.size() != 1)
    throw SpecError(layer_name(arch.layers.size() - 1, arch.layers.back()) + ": the model ends with images " +
                    shape_text(s) + "; end with flatten (and a linear layer) to give a vector of outputs");
  if (r.parameter_count == 0)
    throw SpecError("model '" + arch.str() + "': has no parameters (no linear or conv2d layer)");
  r.output_size = s[0];
  return r;
}

}  // namespace

std::string LayerSpec::type_name() const {
  switch (kind) {
    case LayerKind::linear:
      return "linear";
    case LayerKind::conv2d:
      return "conv2d";
    case LayerKind::avg_pool2d:
      return "avg_pool2d";
    case LayerKind::max_pool2d:
      return "max_pool2d";
    case LayerKind::flatten:
      return "flatten";
    case LayerKind::activation:
      break;
  }
  return std::string(activation_name(activation));
}

std::string LayerSpec::str() const {
  switch (kind) {
    case LayerKind::linear:
      return "linear(" + std::to_string(out) + ")";
    case LayerKind::conv2d:
      return "conv2d(" + std::to_string(out) + "," + std::to_string(kernel) +
             (stride != 1 ? ",stride=" + std::to_string(stride) : "") +
             (padding != 0 ? ",padding=" + std::to_string(padding) : "") + ")";
    case LayerKind::avg_pool2d:
    case LayerKind::max_pool2d:
      return type_name() + "(" + std::to_string(kernel) +
             (stride != kernel ? ",stride=" + std::to_string(stride) : "") + ")";
    case LayerKind::flatten:
    case LayerKind::activation:
      break;
  }
  return type_name();
}

std::string Architecture::str() const {
  std::string t = shape_text(input_shape) + " ";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (i) t += ',';
    t += layers[i].str();
  }
  return t;
}

std::optional<MlpSpec> Architecture::as_mlp() const {
  if (input_shape.size() != 1 || layers.size() % 2 == 0) return std::nullopt;
  MlpSpec spec;
  spec.widths.push_back(input_shape[0]);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    if (i % 2 == 0) {
      if (l.kind != LayerKind::linear || l.in != spec.widths.back()) return std::nullopt;
      spec.widths.push_back(l.out);
    } else {
      if (l.kind != LayerKind::activation || (i > 1 && l.activation != spec.activation)) return std::nullopt;
      spec.activation = l.activation;
    }
  }
  return spec;
}

ArchitectureShapes infer_shapes(Architecture& arch) { return infer(arch, true); }

ArchitectureShapes infer_shapes(const Architecture& arch) {
  Architecture copy = arch;
  return infer(copy, false);
}

std::vector<std::int64_t> parse_input_shape(std::string_view text) {
  std::vector<std::int64_t> shape;
  std::string_view rest = text;
  for (;;) {
    const std::size_t x = rest.find('x');
    const std::string_view part = rest.substr(0, x);
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || v <= 0)
      throw SpecError("input shape '" + std::string(text) + "': '" + std::string(part) +
                      "' is not a positive integer");
    shape.push_back(v);
    if (x == std::string_view::npos) break;
    rest.remove_prefix(x + 1);
  }
  if (shape.size() != 1 && shape.size() != 3)
    throw SpecError("input shape '" + std::string(text) + "': give C x H x W (e.g. 1x8x8) or a width F");
  return shape;
}

Architecture parse_architecture(std::string_view layers, std::vector<std::int64_t> input_shape) {
  Architecture arch;
  arch.input_shape = std::move(input_shape);
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i <= layers.size(); ++i) {
    const char c = i < layers.size() ? layers[i] : ',';
    if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    if (c != ',' || depth > 0) continue;
    const std::string_view item = trim(layers.substr(start, i - start));
    if (item.empty())
      throw SpecError("layer " + std::to_string(arch.layers.size()) + " of '" + std::string(layers) +
                      "' is empty");
    arch.layers.push_back(parse_layer(item, arch.layers.size()));
    start = i + 1;
  }
  infer_shapes(arch);
  return arch;
}

Architecture mlp_architecture(const MlpSpec& spec) {
  Architecture arch;
  arch.input_shape = {spec.widths.front()};
  for (std::size_t l = 0; l + 1 < spec.widths.size(); ++l) {
    LayerSpec lin;
    lin.kind = LayerKind::linear;
    lin.in = spec.widths[l];
    lin.out = spec.widths[l + 1];
    arch.layers.push_back(lin);
    if (l + 2 < spec.widths.size()) {
      LayerSpec act;
      act.kind = LayerKind::activation;
      act.activation = spec.activation;
      arch.layers.push_back(act);
    }
  }
  return arch;
}

Model sequential(const Architecture& arch) {
  const std::optional<MlpSpec> spec = arch.as_mlp();
  return sequential(arch, spec ? "mlp " + spec->str() : "net " + arch.str());
}

Model sequential(const Architecture& arch, std::string name) {
  const ArchitectureShapes shapes = infer_shapes(arch);
  Layout layout;
  struct Step {
    LayerSpec layer;
    ad::Conv2dGeometry geometry;  // conv2d
    ad::ImageShape image;         // pooling
    ParameterBlock weight, bias;
    std::int64_t channels = 0, plane = 0;  // of an image output: C and H*W
  };
  std::vector<Step> steps;
  std::vector<std::int64_t> s = arch.input_shape;
  int unit = 0;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    Step st{arch.layers[i], {}, {}, {}, {}};
    const LayerSpec& l = st.layer;
    const std::string name = "layer" + std::to_string(unit);
    if (l.kind == LayerKind::linear) {
      layout.add_linear(name, l.in, l.out);
      ++unit;
    } else if (l.kind == LayerKind::conv2d) {
      const std::int64_t taps = l.kernel * l.kernel;
      // PyTorch's fans of a conv weight: in*k*k and out*k*k.
      layout.add(name + ".weight", ad::Shape::matrix(l.out, l.in * taps), BlockRole::weight, l.in * taps,
                 l.out * taps);
      layout.add(name + ".bias", ad::Shape::vector(l.out), BlockRole::bias, l.in * taps, l.out * taps);
      ++unit;
      st.geometry.channels = s[0];
      st.geometry.height = s[1];
      st.geometry.width = s[2];
      st.geometry.kernel_h = st.geometry.kernel_w = l.kernel;
      st.geometry.stride_h = st.geometry.stride_w = l.stride;
      st.geometry.padding_h = st.geometry.padding_w = l.padding;
    } else if (l.kind == LayerKind::avg_pool2d || l.kind == LayerKind::max_pool2d) {
      st.image = {s[0], s[1], s[2]};
    }
    if (l.kind == LayerKind::linear || l.kind == LayerKind::conv2d) {
      st.weight = layout.blocks()[layout.blocks().size() - 2];
      st.bias = layout.blocks().back();
    }
    s = shapes.outputs[i];
    if (s.size() == 3) {
      st.channels = s[0];
      st.plane = s[1] * s[2];
    }
    steps.push_back(std::move(st));
  }
  // From the first convolution on, images are held channel-major (C x (N*H*W), see
  // ad::conv2d_channel_major): activations act elementwise and pooling on (C*N) x (H*W) planes
  // alike in either layout, so the batch is reordered once, before flatten or a linear layer,
  // instead of after every convolution.
  ForwardFunction f = [steps = std::move(steps)](ad::Var x, ad::Var w) {
    const std::int64_t n = x.shape().rank == 2 ? x.shape().dim(0) : 0;
    auto row = [](ad::Var v) { return ad::reshape(v, ad::Shape::matrix(1, v.size())); };
    ad::Var h = x;
    bool channel_major = false;
    std::int64_t channels = 0, plane = 0;  // of h while channel_major
    auto image_major = [&] {
      if (!channel_major) return;
      h = ad::reshape(ad::transpose_blocks(row(h), channels, n, plane),
                      ad::Shape::matrix(n, channels * plane));
      channel_major = false;
    };
    auto planes = [&](auto pool, const Step& st) {
      const ad::ImageShape one{1, st.image.height, st.image.width};
      h = pool(ad::reshape(h, ad::Shape::matrix(channels * n, st.image.height * st.image.width)), one);
      h = ad::reshape(h, ad::Shape::matrix(channels, n * st.plane));
    };
    for (const Step& st : steps) {
      switch (st.layer.kind) {
        case LayerKind::linear:
          image_major();
          h = linear(h, w, st.weight, st.bias);
          break;
        case LayerKind::conv2d:
          if (n < 1) {  // an empty batch: nothing to reorder
            h = ad::conv2d(h, st.weight.view(w), st.bias.view(w), st.geometry);
            break;
          }
          if (!channel_major) {
            const std::int64_t c = st.geometry.channels, p = st.geometry.height * st.geometry.width;
            h = ad::reshape(ad::transpose_blocks(row(h), n, c, p), ad::Shape::matrix(c, n * p));
          }
          h = ad::conv2d_channel_major(h, st.weight.view(w), st.bias.view(w), st.geometry);
          channel_major = true;
          channels = st.channels;
          plane = st.plane;
          break;
        case LayerKind::avg_pool2d:
          if (!channel_major) {
            h = ad::avg_pool2d(h, st.image, st.layer.kernel, st.layer.stride);
            break;
          }
          planes(
              [&](ad::Var v, const ad::ImageShape& one) {
                return ad::avg_pool2d(v, one, st.layer.kernel, st.layer.stride);
              },
              st);
          plane = st.plane;
          break;
        case LayerKind::max_pool2d:
          if (!channel_major) {
            h = ad::max_pool2d(h, st.image, st.layer.kernel, st.layer.stride);
            break;
          }
          planes(
              [&](ad::Var v, const ad::ImageShape& one) {
                return ad::max_pool2d(v, one, st.layer.kernel, st.layer.stride);
              },
              st);
          plane = st.plane;
          break;
        case LayerKind::flatten:
          image_major();
          break;  // image-major rows are PyTorch's flatten
        case LayerKind::activation:
          h = activate(st.layer.activation, h);
          break;
      }
    }
    image_major();
    return h;
  };
  return Model(std::move(name), shapes.input_size, shapes.output_size, std::move(layout), std::move(f))
      .with_architecture(arch);
}

}  // namespace pk::nn
