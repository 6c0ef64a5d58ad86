#include "engine/features.h"

#include <cmath>
#include <stdexcept>

#include "engine/errors.h"
#include "engine/optimizer.h"

namespace anneal {

namespace {

void check_data(const ExtractorConfig& c, const ImageDataset& d, const char* split) {
  if (d.size() == 0) throw std::invalid_argument(std::string("the ") + split + " split is empty");
  if (d.images.shape(1) != c.resolution || d.images.shape(2) != extractor_width(c) ||
      d.images.shape(3) != c.in_channels) {
    throw std::invalid_argument(std::string("the ") + split + " images are " + std::to_string(d.images.shape(1)) + "x" +
                                std::to_string(d.images.shape(2)) + "x" + std::to_string(d.images.shape(3)) +
                                " but the extractor expects " + std::to_string(c.resolution) + "x" +
                                std::to_string(extractor_width(c)) + "x" + std::to_string(c.in_channels));
  }
}

mx::array to_unit_range(const mx::array& u8) {
  return mx::subtract(mx::multiply(mx::astype(u8, mx::float32), mx::array(2.0f / 255.0f)), mx::array(1.0f));
}

// Mean cross-entropy: logsumexp(z) - z_y.
mx::array cross_entropy(const mx::array& logits, const mx::array& labels) {
  auto picked = mx::take_along_axis(logits, mx::expand_dims(labels, 1), 1);
  return mx::mean(mx::subtract(mx::logsumexp(logits, 1), mx::squeeze(picked, 1)));
}

// Moves each image by its own random (dy, dx) in [-shift, shift], replicating the edges. A
// classifier trained on 9,000 MNIST digits memorizes where their strokes sit; seeing each digit
// at many offsets is what lifts its held-out accuracy past 98%.
mx::array random_translate(const mx::array& x, int shift, const mx::array& key) {
  const int B = x.shape(0), H = x.shape(1), W = x.shape(2);
  auto [ky, kx] = mx::random::split(key);
  auto offsets = [&](int size, const mx::array& k, const mx::Shape& along) {
    auto d = mx::random::randint(-shift, shift + 1, {B, 1, 1, 1}, mx::int32, k);
    auto base = mx::reshape(mx::arange(size, mx::int32), along);
    return mx::clip(mx::add(base, d), mx::array(0), mx::array(size - 1));
  };
  auto rows = offsets(H, ky, {1, H, 1, 1});
  auto cols = offsets(W, kx, {1, 1, W, 1});
  return mx::take_along_axis(mx::take_along_axis(x, rows, 1), cols, 2);
}

// The training objective of either kind; `key` draws the classifier's shifts or the
// autoencoder's corruption.
mx::array extractor_loss(const Params& p, const ExtractorConfig& c, const mx::array& x, const mx::array& labels,
                         const mx::array& key, float noise, int shift) {
  if (c.kind == ExtractorKind::Classifier) {
    auto seen = shift > 0 ? random_translate(x, shift, key) : x;
    return cross_entropy(classifier_logits(p, c, extractor_features(p, c, seen)), labels);
  }
  // Denoising autoencoder (Vincent et al. 2008): reconstruct x from x + noise.
  auto noisy = mx::add(x, mx::multiply(mx::random::normal(x.shape(), mx::float32, key), mx::array(noise)));
  auto recon = autoencoder_decode(p, c, extractor_features(p, c, noisy));
  return mx::mean(mx::square(mx::subtract(recon, x)));
}

mx::array step_key(std::uint64_t seed, long step) {
  std::uint64_t h = seed * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(step) + 0xD1B54A32D192ED03ull);
  h ^= h >> 29;
  return mx::random::key(h);
}

}  // namespace

TrainedExtractor train_extractor(const ExtractorConfig& config, const ExtractorTraining& training,
                                 const ImageDataset& train, const ImageDataset& heldout,
                                 const std::function<void(const ExtractorProgress&)>& on_step) {
  check_extractor_config(config);
  check_data(config, train, "train");
  check_data(config, heldout, "held-out");
  if (training.steps < 1) throw std::invalid_argument("extractor training needs steps >= 1");
  if (training.batch_size > train.size()) {
    throw std::invalid_argument("extractor batch size " + std::to_string(training.batch_size) + " exceeds the " +
                                std::to_string(train.size()) + " training images");
  }
  Params params = init_extractor(config, mx::random::key(training.seed));
  const std::size_t P = params.size();
  std::vector<mx::array> w = flatten(params), m, v;
  for (const auto& a : w) {
    m.push_back(mx::zeros_like(a));
    v.push_back(mx::zeros_like(a));
  }
  mx::eval(w);
  mx::eval(m);
  mx::eval(v);

  AdamWConfig adamw;
  adamw.weight_decay = training.weight_decay;
  const Params names = params;
  const double clip = training.grad_clip;
  const float noise = static_cast<float>(training.noise);
  const int shift = training.shift;
  // Inputs: [params | m | v | x, labels, key, lr, t]; outputs: [loss | params | m | v].
  auto fn = [P, names, config, adamw, clip, noise, shift](const std::vector<mx::array>& in) {
    const auto& x = in[3 * P];
    const auto& labels = in[3 * P + 1];
    const auto& key = in[3 * P + 2];
    auto loss_fn = [&](const std::vector<mx::array>& ps) {
      return extractor_loss(unflatten(names, ps), config, x, labels, key, noise, shift);
    };
    std::vector<mx::array> ps(in.begin(), in.begin() + P);
    std::vector<mx::array> ms(in.begin() + P, in.begin() + 2 * P);
    std::vector<mx::array> vs(in.begin() + 2 * P, in.begin() + 3 * P);
    auto [loss, grads] = mx::value_and_grad(loss_fn, all_argnums(P))(ps);
    clip_by_global_norm(grads, clip);
    adamw_update(adamw, ps, ms, vs, grads, in[3 * P + 3], in[3 * P + 4]);
    std::vector<mx::array> out{loss};
    out.insert(out.end(), ps.begin(), ps.end());
    out.insert(out.end(), ms.begin(), ms.end());
    out.insert(out.end(), vs.begin(), vs.end());
    return out;
  };
  std::function<std::vector<mx::array>(const std::vector<mx::array>&)> step_fn =
      training.compile ? mx::compile(fn) : std::function<std::vector<mx::array>(const std::vector<mx::array>&)>(fn);

  BatchSampler sampler(train.size(), training.batch_size, training.seed);
  for (long s = 0; s < training.steps; ++s) {
    auto [x, labels] = gather_batch(train, sampler.next());
    const double lr = warmup_cosine_lr(s, training.warmup_steps, training.steps, training.lr, 0.0);
    std::vector<mx::array> in = w;
    in.insert(in.end(), m.begin(), m.end());
    in.insert(in.end(), v.begin(), v.end());
    in.push_back(x);
    in.push_back(labels);
    in.push_back(step_key(training.seed, s));
    in.push_back(mx::array(static_cast<float>(lr)));
    in.push_back(mx::array(static_cast<float>(s + 1)));
    auto out = step_fn(in);
    mx::eval(out);  // the one evaluation of this step
    const float loss = out[0].item<float>();
    if (!std::isfinite(loss)) {
      throw DivergenceError("extractor training diverged at step " + std::to_string(s + 1) +
                               " (loss is not finite); lower its learning rate");
    }
    w.assign(out.begin() + 1, out.begin() + 1 + P);
    m.assign(out.begin() + 1 + P, out.begin() + 1 + 2 * P);
    v.assign(out.begin() + 1 + 2 * P, out.end());
    if (on_step) on_step({s + 1, training.steps, loss});
  }
  TrainedExtractor result;
  result.params = unflatten(params, w);
  result.report = evaluate_extractor(result.params, config, heldout, training);
  result.report.steps = training.steps;
  return result;
}

ExtractorReport evaluate_extractor(const Params& params, const ExtractorConfig& config, const ImageDataset& heldout,
                                   const ExtractorTraining& training) {
  check_data(config, heldout, "held-out");
  ExtractorReport r;
  r.heldout_count = heldout.size();
  const int n = heldout.size(), chunk = 256;
  double loss_sum = 0, correct = 0;
  for (int start = 0; start < n; start += chunk) {
    const int b = std::min(chunk, n - start);
    auto x = to_unit_range(mx::slice(heldout.images, {start, 0, 0, 0},
                                     {start + b, heldout.images.shape(1), heldout.images.shape(2), heldout.images.shape(3)}));
    auto y = mx::slice(heldout.labels, {start}, {start + b});
    auto loss = extractor_loss(params, config, x, y, step_key(training.seed ^ 0xE7A1u, start), static_cast<float>(training.noise), 0);
    if (config.kind == ExtractorKind::Classifier) {
      auto pred = mx::argmax(classifier_logits(params, config, extractor_features(params, config, x)), 1);
      auto hits = mx::sum(mx::astype(mx::equal(pred, y), mx::float32));
      mx::eval({loss, hits});
      correct += hits.item<float>();
    } else {
      mx::eval(loss);
    }
    loss_sum += static_cast<double>(loss.item<float>()) * b;
  }
  r.heldout_loss = loss_sum / n;
  r.heldout_accuracy = config.kind == ExtractorKind::Classifier ? correct / n : -1;
  return r;
}

Extracted extract_features(const Params& params, const ExtractorConfig& config, const mx::array& images, int chunk) {
  if (images.ndim() != 4 || images.shape(1) != config.resolution || images.shape(2) != extractor_width(config) ||
      images.shape(3) != config.in_channels) {
    throw std::invalid_argument("images must be uint8 [N, " + std::to_string(config.resolution) + ", " +
                                std::to_string(extractor_width(config)) + ", " + std::to_string(config.in_channels) +
                                "] for this extractor");
  }
  Extracted e;
  e.n = images.shape(0);
  e.dim = config.feature_dim;
  e.classes = config.kind == ExtractorKind::Classifier ? config.num_classes : 0;
  e.features.reserve(static_cast<std::size_t>(e.n) * e.dim);
  e.logits.reserve(static_cast<std::size_t>(e.n) * e.classes);
  for (int start = 0; start < e.n; start += chunk) {
    const int b = std::min(chunk, e.n - start);
    auto x = to_unit_range(mx::slice(images, {start, 0, 0, 0}, {start + b, images.shape(1), images.shape(2), images.shape(3)}));
    auto f = extractor_features(params, config, x);
    // Row-major copies below need contiguous buffers.
    std::vector<mx::array> outs{mx::contiguous(f)};
    if (e.classes > 0) outs.push_back(mx::contiguous(classifier_logits(params, config, f)));
    mx::eval(outs);
    e.features.insert(e.features.end(), outs[0].data<float>(), outs[0].data<float>() + outs[0].size());
    if (e.classes > 0) e.logits.insert(e.logits.end(), outs[1].data<float>(), outs[1].data<float>() + outs[1].size());
  }
  return e;
}

}  // namespace anneal
