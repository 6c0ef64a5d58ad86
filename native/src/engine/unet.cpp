#include "engine/unet.h"

#include <algorithm>
#include <stdexcept>

#include "engine/memory.h"
#include "engine/nn.h"

namespace anneal {
namespace {

using nn::conv2d;
using nn::group_norm;
using nn::linear;
using nn::silu;

bool is_attn(const std::string& type) { return type.rfind("Attn", 0) == 0; }

// Splits a key for each dropout site so training is deterministic for a given step key.
struct KeyStream {
  std::optional<mx::array> key;
  std::optional<mx::array> next() {
    if (!key) return std::nullopt;
    auto [a, b] = mx::random::split(*key);
    key = a;
    return b;
  }
};

// ResnetBlock2D with time_embedding_norm "default" (diffusers/models/resnet.py).
mx::array resnet(const Params& p, const std::string& n, const UNetConfig& c, const mx::array& x,
                 const mx::array& temb, KeyStream& keys, float output_scale = 1.0f) {
  auto h = conv2d(p, n + ".conv1", silu(group_norm(p, n + ".norm1", x, c.norm_num_groups, c.norm_eps)));
  auto t = linear(p, n + ".time_emb_proj", silu(temb));
  h = mx::add(h, mx::expand_dims(t, {1, 2}));
  h = silu(group_norm(p, n + ".norm2", h, c.norm_num_groups, c.norm_eps));
  h = conv2d(p, n + ".conv2", nn::dropout(h, c.dropout, keys.next()));
  auto shortcut = p.count(n + ".conv_shortcut.weight") ? conv2d(p, n + ".conv_shortcut", x, 1, 0) : x;
  auto out = mx::add(shortcut, h);
  // output_scale_factor: 1 in the down/up blocks, mid_block_scale_factor in the mid block.
  return output_scale == 1.0f ? out : mx::divide(out, mx::array(output_scale));
}

// Attention with group norm, residual connection and rescale (diffusers' Attention with
// AttnProcessor2_0, as built by _from_deprecated_attn_block for UNet2DModel).
mx::array attention(const Params& p, const std::string& n, const UNetConfig& c, const mx::array& x,
                    float rescale) {
  const int B = x.shape(0), H = x.shape(1), W = x.shape(2), C = x.shape(3);
  const int head_dim = c.attention_head_dim;
  const int heads = C / head_dim;
  auto h = mx::reshape(group_norm(p, n + ".group_norm", x, c.norm_num_groups, c.norm_eps), {B, H * W, C});
  auto split_heads = [&](const mx::array& a) {
    return mx::transpose(mx::reshape(a, {B, H * W, heads, head_dim}), {0, 2, 1, 3});
  };
  auto q = split_heads(linear(p, n + ".to_q", h));
  auto k = split_heads(linear(p, n + ".to_k", h));
  auto v = split_heads(linear(p, n + ".to_v", h));
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  auto o = c.linear_attention ? linear_attention(q, k, v)
                              : softmax_attention(q, k, v, scale, c.attention_exec);
  o = mx::reshape(mx::transpose(o, {0, 2, 1, 3}), {B, H * W, C});
  o = mx::reshape(linear(p, n + ".to_out.0", o), {B, H, W, C});
  auto out = mx::add(o, x);
  return rescale == 1.0f ? out : mx::divide(out, mx::array(rescale));
}

mx::array upsample_nearest2x(const mx::array& x) {
  const int B = x.shape(0), H = x.shape(1), W = x.shape(2), C = x.shape(3);
  auto h = mx::broadcast_to(mx::reshape(x, {B, H, 1, W, 1, C}), {B, H, 2, W, 2, C});
  return mx::reshape(h, {B, H * 2, W * 2, C});
}

// Visits the U-Net's layers in diffusers' order, calling back with each layer's name and
// shape so initialization, FLOP counting and checking share one description of the layout.
struct LayoutVisitor {
  virtual ~LayoutVisitor() = default;
  virtual void conv(const std::string& name, int in, int out, int k, int size, int stride) = 0;
  virtual void linear(const std::string& name, int in, int out, int tokens) = 0;
  virtual void norm(const std::string& name, int channels, int size) = 0;
  virtual void attention(const std::string& name, int channels, int size) = 0;
  virtual void embedding(const std::string& name, int count, int dim) = 0;
  // The resnet about to be visited reads [first, second] concatenated (an up block's input and
  // skip); most visitors count channels only.
  virtual void concatenation(const std::string& /*resnet*/, int /*first*/, int /*second*/) {}
};

void visit_resnet(LayoutVisitor& v, const std::string& n, int in, int out, int temb, int size) {
  v.norm(n + ".norm1", in, size);
  v.conv(n + ".conv1", in, out, 3, size, 1);
  v.linear(n + ".time_emb_proj", temb, out, 1);
  v.norm(n + ".norm2", out, size);
  v.conv(n + ".conv2", out, out, 3, size, 1);
  if (in != out) v.conv(n + ".conv_shortcut", in, out, 1, size, 1);
}

void visit_attention(LayoutVisitor& v, const std::string& n, int c, int size) {
  v.norm(n + ".group_norm", c, size);
  for (const char* proj : {".to_q", ".to_k", ".to_v", ".to_out.0"}) v.linear(n + proj, c, c, size * size);
  v.attention(n, c, size);
}

void visit_unet(const UNetConfig& c, LayoutVisitor& v) {
  const int temb = c.time_embed_dim();
  const int levels = static_cast<int>(c.block_out_channels.size());
  v.linear("time_embedding.linear_1", c.block_out_channels[0], temb, 1);
  v.linear("time_embedding.linear_2", temb, temb, 1);
  if (c.num_class_embeds > 0) v.embedding("class_embedding", c.num_class_embeds, temb);
  int size = c.sample_size;
  v.conv("conv_in", c.in_channels, c.block_out_channels[0], 3, size, 1);
  int out_ch = c.block_out_channels[0];
  for (int i = 0; i < levels; ++i) {
    const int in_ch = out_ch;
    out_ch = c.block_out_channels[i];
    const std::string b = "down_blocks." + std::to_string(i);
    for (int j = 0; j < c.layers_per_block; ++j) {
      visit_resnet(v, b + ".resnets." + std::to_string(j), j == 0 ? in_ch : out_ch, out_ch, temb, size);
      if (is_attn(c.down_block_types[i])) visit_attention(v, b + ".attentions." + std::to_string(j), out_ch, size);
    }
    if (i < levels - 1) {
      v.conv(b + ".downsamplers.0.conv", out_ch, out_ch, 3, size / 2, 2);
      size /= 2;
    }
  }
  const int mid = c.block_out_channels.back();
  visit_resnet(v, "mid_block.resnets.0", mid, mid, temb, size);
  if (c.add_attention) visit_attention(v, "mid_block.attentions.0", mid, size);
  visit_resnet(v, "mid_block.resnets.1", mid, mid, temb, size);
  std::vector<int> rev(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  out_ch = rev[0];
  for (int i = 0; i < levels; ++i) {
    const int prev = out_ch;
    out_ch = rev[i];
    const int in_ch = rev[std::min(i + 1, levels - 1)];
    const std::string b = "up_blocks." + std::to_string(i);
    const int layers = c.layers_per_block + 1;
    for (int j = 0; j < layers; ++j) {
      const int skip = j == layers - 1 ? in_ch : out_ch;
      const int res_in = j == 0 ? prev : out_ch;
      v.concatenation(b + ".resnets." + std::to_string(j), res_in, skip);
      visit_resnet(v, b + ".resnets." + std::to_string(j), res_in + skip, out_ch, temb, size);
      if (is_attn(c.up_block_types[i])) visit_attention(v, b + ".attentions." + std::to_string(j), out_ch, size);
    }
    if (i < levels - 1) {
      size *= 2;
      v.conv(b + ".upsamplers.0.conv", out_ch, out_ch, 3, size, 1);
    }
  }
  v.norm("conv_norm_out", c.block_out_channels[0], size);
  v.conv("conv_out", c.block_out_channels[0], c.out_channels, 3, size, 1);
}

}  // namespace

void UNetConfig::validate() const {
  auto fail = [](const std::string& m) { throw std::invalid_argument("unet config: " + m); };
  if (block_out_channels.empty()) fail("block_out_channels must not be empty");
  const auto levels = block_out_channels.size();
  if (down_block_types.size() != levels) fail("down_block_types must have one entry per block_out_channels entry");
  if (up_block_types.size() != levels) fail("up_block_types must have one entry per block_out_channels entry");
  for (const auto& t : down_block_types) {
    if (t != "DownBlock2D" && t != "AttnDownBlock2D") fail("unsupported down block type \"" + t + "\"");
  }
  for (const auto& t : up_block_types) {
    if (t != "UpBlock2D" && t != "AttnUpBlock2D") fail("unsupported up block type \"" + t + "\"");
  }
  for (int ch : block_out_channels) {
    if (ch <= 0 || ch % norm_num_groups != 0) {
      fail("block_out_channels entry " + std::to_string(ch) + " must be a positive multiple of norm_num_groups (" +
           std::to_string(norm_num_groups) + ")");
    }
  }
  if (layers_per_block < 1) fail("layers_per_block must be >= 1");
  if (attention_head_dim < 1) fail("attention_head_dim must be >= 1");
  if (in_channels < 1 || out_channels < 1) fail("in_channels and out_channels must be >= 1");
  if (sample_size % (1 << (levels - 1)) != 0) {
    fail("sample_size " + std::to_string(sample_size) + " must be divisible by 2^(levels-1) = " +
         std::to_string(1 << (levels - 1)));
  }
  if (dropout < 0.0f || dropout >= 1.0f) fail("dropout must be in [0, 1)");
  if (num_class_embeds < 0) fail("num_class_embeds must be >= 0");
}

Params init_unet(const UNetConfig& cfg, std::uint64_t seed) {
  cfg.validate();
  struct Init : LayoutVisitor {
    Params p;
    mx::array key;
    explicit Init(std::uint64_t seed) : key(mx::random::key(seed)) {}
    void conv(const std::string& n, int in, int out, int k, int, int) override { nn::init_conv(p, n, in, out, k, key); }
    void linear(const std::string& n, int in, int out, int) override { nn::init_linear(p, n, in, out, key); }
    void norm(const std::string& n, int ch, int) override { nn::init_norm(p, n, ch); }
    void attention(const std::string&, int, int) override {}
    void embedding(const std::string& n, int count, int dim) override {
      auto [a, b] = mx::random::split(key);
      key = a;
      p.insert_or_assign(n + ".weight", mx::random::normal({count, dim}, mx::float32, 0.0f, 1.0f, b));
    }
  } init(seed);
  visit_unet(cfg, init);
  mx::eval(flatten(init.p));
  return init.p;
}

std::map<std::string, ConcatenatedAxis> concatenated_axes(const UNetConfig& cfg) {
  cfg.validate();
  struct Concatenations : LayoutVisitor {
    std::map<std::string, ConcatenatedAxis> axes;
    void conv(const std::string&, int, int, int, int, int) override {}
    void linear(const std::string&, int, int, int) override {}
    void norm(const std::string&, int, int) override {}
    void attention(const std::string&, int, int) override {}
    void embedding(const std::string&, int, int) override {}
    void concatenation(const std::string& n, int first, int second) override {
      // Convolution weights are [out, k, k, in]; a norm's weight and bias are [channels].
      for (const char* t : {".norm1.weight", ".norm1.bias"}) axes[n + t] = {0, {first, second}};
      for (const char* t : {".conv1.weight", ".conv_shortcut.weight"}) axes[n + t] = {3, {first, second}};
    }
  } c;
  visit_unet(cfg, c);
  return c.axes;
}

void check_unet_params(const Params& params, const UNetConfig& cfg) {
  cfg.validate();
  struct Shapes : LayoutVisitor {
    std::map<std::string, mx::Shape> s;
    void conv(const std::string& n, int in, int out, int k, int, int) override {
      s[n + ".weight"] = {out, k, k, in};
      s[n + ".bias"] = {out};
    }
    void linear(const std::string& n, int in, int out, int) override {
      s[n + ".weight"] = {out, in};
      s[n + ".bias"] = {out};
    }
    void norm(const std::string& n, int ch, int) override {
      s[n + ".weight"] = {ch};
      s[n + ".bias"] = {ch};
    }
    void attention(const std::string&, int, int) override {}
    void embedding(const std::string& n, int count, int dim) override { s[n + ".weight"] = {count, dim}; }
  } expected;
  visit_unet(cfg, expected);
  for (const auto& [name, shape] : expected.s) {
    auto it = params.find(name);
    if (it == params.end()) throw std::invalid_argument("checkpoint is missing weight " + name);
    if (it->second.shape() != shape) {
      std::string got, want;
      for (int d : it->second.shape()) got += std::to_string(d) + ",";
      for (int d : shape) want += std::to_string(d) + ",";
      throw std::invalid_argument("weight " + name + " has shape [" + got + "] but the config implies [" + want + "]");
    }
  }
  for (const auto& [name, _] : params) {
    if (!expected.s.count(name)) throw std::invalid_argument("checkpoint has unexpected weight " + name);
  }
}

double unet_forward_flops(const UNetConfig& cfg) {
  struct Flops : LayoutVisitor {
    double f = 0;
    void conv(const std::string&, int in, int out, int k, int size, int) override {
      f += 2.0 * size * size * static_cast<double>(in) * out * k * k;
    }
    void linear(const std::string&, int in, int out, int tokens) override { f += 2.0 * tokens * in * static_cast<double>(out); }
    void norm(const std::string&, int ch, int size) override { f += 8.0 * ch * size * size; }
    bool linear_attention = false;
    int head_dim = 1;
    void attention(const std::string&, int c, int size) override {
      const double n = static_cast<double>(size) * size;
      // Softmax: QK^T and AV. Linear: phi(K)^T V and phi(Q) (phi(K)^T V), d x d per head.
      f += linear_attention ? 4.0 * n * c * head_dim : 4.0 * n * n * c;
    }
    void embedding(const std::string&, int, int) override {}
  } flops;
  flops.linear_attention = cfg.linear_attention;
  flops.head_dim = cfg.attention_head_dim;
  visit_unet(cfg, flops);
  return flops.f;
}

double unet_activation_bytes(const UNetConfig& cfg) {
  struct Acts : LayoutVisitor {
    double elems = 0;
    void conv(const std::string&, int, int out, int, int size, int) override { elems += 2.0 * size * size * out; }
    void linear(const std::string&, int, int out, int tokens) override { elems += static_cast<double>(tokens) * out; }
    void norm(const std::string&, int ch, int size) override { elems += 3.0 * ch * size * size; }
    bool linear_attention = false;
    void attention(const std::string&, int c, int size) override {
      const double n = static_cast<double>(size) * size;
      elems += (linear_attention ? 0.0 : n * n * (c > 0 ? 1 : 0)) + 2.0 * n * c;
    }
    void embedding(const std::string&, int, int) override {}
  } acts;
  acts.linear_attention = cfg.linear_attention;
  visit_unet(cfg, acts);
  return acts.elems * 4.0;
}

namespace {

// The shape of every softmax attention call the U-Net makes on `work`'s images.
std::vector<AttentionShape> attention_shapes(const UNetConfig& cfg, const AttentionWorkload& work) {
  const int factor = 1 << (static_cast<int>(cfg.block_out_channels.size()) - 1);
  const int height = work.height > 0 ? work.height : cfg.sample_size;
  const int width = work.width > 0 ? work.width : cfg.sample_size;
  if (height % factor != 0 || width % factor != 0) {
    throw std::invalid_argument("attention workload: " + std::to_string(height) + "x" + std::to_string(width) +
                                " images; both sides must be multiples of 2^(levels-1) = " + std::to_string(factor));
  }
  struct Shapes : LayoutVisitor {
    std::vector<AttentionShape> s;
    int batch = 1, head_dim = 1;
    double area_scale = 1;  // (height x width) / sample_size^2: every level scales alike
    void conv(const std::string&, int, int, int, int, int) override {}
    void linear(const std::string&, int, int, int) override {}
    void norm(const std::string&, int, int) override {}
    void attention(const std::string&, int c, int size) override {
      s.push_back({batch, c / head_dim, static_cast<int>(size * size * area_scale + 0.5), head_dim});
    }
    void embedding(const std::string&, int, int) override {}
  } shapes;
  shapes.batch = work.batch;
  shapes.head_dim = cfg.attention_head_dim;
  shapes.area_scale = static_cast<double>(height) * width / (static_cast<double>(cfg.sample_size) * cfg.sample_size);
  if (!cfg.linear_attention) visit_unet(cfg, shapes);
  return shapes.s;
}

}  // namespace

AttentionBytes unet_attention_bytes(const UNetConfig& cfg, const AttentionWorkload& work, const AttentionExec& exec) {
  AttentionBytes total;
  for (const auto& shape : attention_shapes(cfg, work)) {
    const auto b = attention_bytes(shape, exec, work.training, work.dtype_bytes);
    total.kept += b.kept;
    total.transient = std::max(total.transient, b.transient);
  }
  return total;
}

AttentionExec choose_attention(const UNetConfig& cfg, const AttentionWorkload& work,
                               double available) {
  const AttentionExec fused;
  const double fused_bytes = unet_attention_bytes(cfg, work, fused).total();
  if (fused_bytes <= available) return fused;
  int most_tokens = 1;
  for (const auto& shape : attention_shapes(cfg, work)) {
    most_tokens = std::max(most_tokens, shape.tokens);
  }
  AttentionExec sliced{AttentionKind::Sliced, 1, true};
  const double smallest = unet_attention_bytes(cfg, work, sliced).total();
  if (smallest > available) {
    const int height = work.height > 0 ? work.height : cfg.sample_size;
    const int width = work.width > 0 ? work.width : cfg.sample_size;
    auto bytes = [](double b) { return format_bytes(static_cast<std::size_t>(std::max(0.0, b))); };
    throw MemoryBudgetError(
        "attention does not fit the memory budget: " + std::to_string(work.batch) +
        " image(s) at " + std::to_string(height) + "x" + std::to_string(width) +
        (work.training ? " (training)" : "") + " leave " + bytes(available) +
        " for attention; fused needs " + bytes(fused_bytes) +
        " and even sliced attention with 1 query per slice needs " + bytes(smallest) +
        "; lower the batch or the resolution, or raise the memory budget");
  }
  while (sliced.slice * 2 < most_tokens) {
    AttentionExec larger{AttentionKind::Sliced, sliced.slice * 2, true};
    if (unet_attention_bytes(cfg, work, larger).total() > available) break;
    sliced = larger;
  }
  return sliced;
}

mx::array unet_forward(const Params& p, const UNetConfig& c, const mx::array& x_in,
                       const mx::array& t, const std::optional<mx::array>& class_labels,
                       const std::optional<mx::array>& dropout_key) {
  KeyStream keys{dropout_key};
  auto x = c.center_input_sample ? mx::subtract(mx::multiply(x_in, mx::array(2.0f)), mx::array(1.0f)) : x_in;
  auto emb = nn::timestep_embedding(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
  emb = linear(p, "time_embedding.linear_2", silu(linear(p, "time_embedding.linear_1", emb)));
  if (c.num_class_embeds > 0) {
    if (!class_labels) throw std::invalid_argument("this model is class-conditional: class labels are required");
    emb = mx::add(emb, mx::take(at(p, "class_embedding.weight"), *class_labels, 0));
  }
  const int levels = static_cast<int>(c.block_out_channels.size());
  auto h = conv2d(p, "conv_in", x);
  std::vector<mx::array> skips{h};
  for (int i = 0; i < levels; ++i) {
    const std::string b = "down_blocks." + std::to_string(i);
    for (int j = 0; j < c.layers_per_block; ++j) {
      h = resnet(p, b + ".resnets." + std::to_string(j), c, h, emb, keys);
      if (is_attn(c.down_block_types[i])) h = attention(p, b + ".attentions." + std::to_string(j), c, h, 1.0f);
      skips.push_back(h);
    }
    if (i < levels - 1) {
      // diffusers' Downsample2D with padding 0 pads one pixel right and bottom first
      // (F.pad(x, (0, 1, 0, 1))), so the output is still half the input.
      if (c.downsample_padding == 0) h = mx::pad(h, {{0, 0}, {0, 1}, {0, 1}, {0, 0}});
      h = conv2d(p, b + ".downsamplers.0.conv", h, 2, c.downsample_padding);
      skips.push_back(h);
    }
  }
  h = resnet(p, "mid_block.resnets.0", c, h, emb, keys, c.mid_block_scale_factor);
  if (c.add_attention) h = attention(p, "mid_block.attentions.0", c, h, c.mid_block_scale_factor);
  h = resnet(p, "mid_block.resnets.1", c, h, emb, keys, c.mid_block_scale_factor);
  for (int i = 0; i < levels; ++i) {
    const std::string b = "up_blocks." + std::to_string(i);
    for (int j = 0; j < c.layers_per_block + 1; ++j) {
      // The most recent skip first (diffusers pops res_hidden_states_tuple[-1]).
      h = mx::concatenate({h, skips.back()}, 3);
      skips.pop_back();
      h = resnet(p, b + ".resnets." + std::to_string(j), c, h, emb, keys);
      if (is_attn(c.up_block_types[i])) h = attention(p, b + ".attentions." + std::to_string(j), c, h, 1.0f);
    }
    if (i < levels - 1) h = conv2d(p, b + ".upsamplers.0.conv", upsample_nearest2x(h));
  }
  h = silu(group_norm(p, "conv_norm_out", h, c.norm_num_groups, c.norm_eps));
  return conv2d(p, "conv_out", h);
}

}  // namespace anneal
