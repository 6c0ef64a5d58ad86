#include "engine/classifier.h"

#include <stdexcept>

#include "engine/nn.h"

namespace anneal {

namespace {

std::string level(int i) { return "encoder." + std::to_string(i); }
std::string up_level(int i) { return "decoder." + std::to_string(i); }

// One side's size after each level: a 3x3 stride-2 convolution with padding 1 maps s to
// ceil(s/2).
std::vector<int> level_sizes(const ExtractorConfig& c, int side) {
  std::vector<int> s{side};
  for (std::size_t i = 1; i < c.channels.size(); ++i) s.push_back((s.back() + 1) / 2);
  return s;
}

mx::array conv_norm_act(const Params& p, const std::string& name, const mx::array& x, int groups, int stride = 1) {
  auto h = nn::conv2d(p, name + ".conv", x, stride, 1);
  return nn::silu(nn::group_norm(p, name + ".norm", h, groups, 1e-5f));
}

void init_block(Params& p, const std::string& name, int in, int out, mx::array& key) {
  nn::init_conv(p, name + ".conv", in, out, 3, key);
  nn::init_norm(p, name + ".norm", out);
}

}  // namespace

ExtractorKind parse_extractor_kind(const std::string& s) {
  if (s == "classifier") return ExtractorKind::Classifier;
  if (s == "autoencoder") return ExtractorKind::Autoencoder;
  throw std::invalid_argument("extractor kind \"" + s + "\" is not classifier or autoencoder");
}

std::string extractor_kind_name(ExtractorKind k) {
  return k == ExtractorKind::Classifier ? "classifier" : "autoencoder";
}

void check_extractor_config(const ExtractorConfig& c) {
  auto fail = [](const std::string& m) { throw std::invalid_argument("extractor config: " + m); };
  if (c.resolution < 4) fail("resolution " + std::to_string(c.resolution) + " must be >= 4");
  if (c.width != 0 && c.width < 4) fail("width " + std::to_string(c.width) + " must be >= 4 (or 0: square)");
  if (c.in_channels < 1) fail("in_channels must be >= 1");
  if (c.channels.empty() || c.channels.size() > 5) fail("channels needs 1 to 5 levels");
  if (c.groups < 1) fail("groups must be >= 1");
  for (int ch : c.channels) {
    if (ch < 1 || ch % c.groups != 0) {
      fail("channels entry " + std::to_string(ch) + " is not a positive multiple of groups (" +
           std::to_string(c.groups) + ")");
    }
  }
  if (c.feature_dim < 1) fail("feature_dim must be >= 1");
  if (c.kind == ExtractorKind::Classifier && c.num_classes < 2) {
    fail("a classifier needs num_classes >= 2 (got " + std::to_string(c.num_classes) +
         "); use the autoencoder for unlabelled data");
  }
}

Params init_extractor(const ExtractorConfig& c, mx::array key) {
  check_extractor_config(c);
  Params p;
  int in = c.in_channels;
  for (std::size_t i = 0; i < c.channels.size(); ++i) {
    init_block(p, level(static_cast<int>(i)) + ".a", in, c.channels[i], key);
    init_block(p, level(static_cast<int>(i)) + ".b", c.channels[i], c.channels[i], key);
    in = c.channels[i];
  }
  nn::init_linear(p, "feature", c.channels.back(), c.feature_dim, key);
  if (c.kind == ExtractorKind::Classifier) {
    nn::init_linear(p, "head", c.feature_dim, c.num_classes, key);
  } else {
    const int sh = level_sizes(c, c.resolution).back();
    const int sw = level_sizes(c, extractor_width(c)).back();
    nn::init_linear(p, "decoder.in", c.feature_dim, sh * sw * c.channels.back(), key);
    for (int i = static_cast<int>(c.channels.size()) - 2; i >= 0; --i) {
      init_block(p, up_level(i), c.channels[i + 1], c.channels[i], key);
    }
    nn::init_conv(p, "decoder.out", c.channels.front(), c.in_channels, 3, key);
  }
  return p;
}

mx::array extractor_features(const Params& p, const ExtractorConfig& c, const mx::array& x) {
  auto h = x;
  for (std::size_t i = 0; i < c.channels.size(); ++i) {
    h = conv_norm_act(p, level(static_cast<int>(i)) + ".a", h, c.groups, i == 0 ? 1 : 2);
    h = conv_norm_act(p, level(static_cast<int>(i)) + ".b", h, c.groups);
  }
  // Global average pooling: features do not depend on where in the image a shape sits.
  h = mx::mean(h, std::vector<int>{1, 2});
  return nn::silu(nn::linear(p, "feature", h));
}

mx::array classifier_logits(const Params& p, const ExtractorConfig& c, const mx::array& features) {
  return nn::linear(p, "head", features);
}

mx::array autoencoder_decode(const Params& p, const ExtractorConfig& c, const mx::array& features) {
  const auto heights = level_sizes(c, c.resolution);
  const auto widths = level_sizes(c, extractor_width(c));
  const int B = features.shape(0);
  auto h = nn::linear(p, "decoder.in", features);
  h = mx::reshape(h, {B, heights.back(), widths.back(), c.channels.back()});
  for (int i = static_cast<int>(c.channels.size()) - 2; i >= 0; --i) {
    // Nearest-neighbour x2, cropped to the encoder's size at this level (odd sizes round up).
    h = mx::repeat(mx::repeat(h, 2, 1), 2, 2);
    h = mx::slice(h, {0, 0, 0, 0}, {B, heights[i], widths[i], h.shape(3)});
    h = conv_norm_act(p, up_level(i), h, c.groups);
  }
  return mx::tanh(nn::conv2d(p, "decoder.out", h, 1, 1));
}

}  // namespace anneal
