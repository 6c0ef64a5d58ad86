#include "engine/data.h"

#include <stdexcept>

#include "engine/checkpoint.h"

namespace anneal {

namespace {
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

ImageDataset load_shards(const std::vector<std::string>& paths, int num_classes) {
  if (paths.empty()) throw std::invalid_argument("no dataset shards given");
  std::vector<mx::array> images, labels;
  for (const auto& path : paths) {
    auto [arrays, meta] = read_safetensors(path, "dataset shard");
    auto img = arrays.find("images");
    if (img == arrays.end()) throw std::invalid_argument(path + ": shard has no 'images' tensor");
    if (img->second.ndim() != 4 || img->second.dtype() != mx::uint8) {
      throw std::invalid_argument(path + ": 'images' must be uint8 [N, H, W, C]");
    }
    images.push_back(img->second);
    auto lab = arrays.find("labels");
    labels.push_back(lab == arrays.end() ? mx::zeros({img->second.shape(0)}, mx::int32)
                                         : mx::astype(lab->second, mx::int32));
  }
  ImageDataset d;
  d.images = images.size() == 1 ? images[0] : mx::concatenate(images, 0);
  d.labels = labels.size() == 1 ? labels[0] : mx::concatenate(labels, 0);
  d.num_classes = num_classes;
  mx::eval({d.images, d.labels});
  return d;
}

std::vector<std::int32_t> epoch_permutation(int n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int32_t> perm(n);
  for (int i = 0; i < n; ++i) perm[i] = i;
  std::uint64_t state = seed * 0x2545F4914F6CDD1Dull + static_cast<std::uint64_t>(epoch) + 1;
  for (int i = n - 1; i > 0; --i) {
    const auto j = static_cast<int>(splitmix64(state) % static_cast<std::uint64_t>(i + 1));
    std::swap(perm[i], perm[j]);
  }
  return perm;
}

BatchSampler::BatchSampler(int dataset_size, int batch_size, std::uint64_t seed, DataCursor cursor)
    : n_(dataset_size), batch_(batch_size), seed_(seed), cursor_(cursor) {
  if (batch_size < 1) throw std::invalid_argument("batch size must be >= 1");
  if (dataset_size < batch_size) {
    throw std::invalid_argument("the dataset has " + std::to_string(dataset_size) +
                                " images, fewer than one batch of " + std::to_string(batch_size));
  }
}

std::vector<std::int32_t> BatchSampler::next() {
  if (cursor_.position + batch_ > n_) {
    ++cursor_.epoch;
    cursor_.position = 0;
  }
  if (perm_epoch_ != cursor_.epoch) {
    perm_ = epoch_permutation(n_, seed_, cursor_.epoch);
    perm_epoch_ = cursor_.epoch;
    ++permutations_built_;
  }
  std::vector<std::int32_t> idx(perm_.begin() + cursor_.position, perm_.begin() + cursor_.position + batch_);
  cursor_.position += batch_;
  return idx;
}

int stage_of(const std::vector<TrainingStage>& stages, long step) {
  if (stages.empty()) throw std::invalid_argument("no training stages");
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (step < stages[i].end_step) return static_cast<int>(i);
  }
  return static_cast<int>(stages.size()) - 1;
}

int choose_bucket(const std::vector<int>& candidates, const std::vector<long>& weights, std::uint64_t seed,
                  long step) {
  if (candidates.empty()) throw std::invalid_argument("a stage with no buckets");
  if (candidates.size() == 1) return candidates[0];
  std::uint64_t total = 0;
  for (int b : candidates) total += static_cast<std::uint64_t>(weights.at(b));
  // Its own stream: distinct from the permutations' (seed * constant + epoch) and the step keys.
  std::uint64_t state = (seed ^ 0xD1B54A32D192ED03ull) * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(step);
  std::uint64_t u = splitmix64(state) % total;
  for (int b : candidates) {
    const auto w = static_cast<std::uint64_t>(weights.at(b));
    if (u < w) return b;
    u -= w;
  }
  return candidates.back();
}

std::pair<mx::array, mx::array> gather_batch(const ImageDataset& d, const std::vector<std::int32_t>& idx) {
  auto i = mx::array(idx.data(), {static_cast<int>(idx.size())}, mx::int32);
  auto x = mx::astype(mx::take(d.images, i, 0), mx::float32);
  x = mx::subtract(mx::multiply(x, mx::array(2.0f / 255.0f)), mx::array(1.0f));
  return {x, mx::take(d.labels, i, 0)};
}

}  // namespace anneal
