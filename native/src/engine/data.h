// Batches sampled natively from uint8 NHWC tensor shards. The order is a pure function of
// (seed, epoch), so a resumed run sees exactly the batches it would have seen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/params.h"

namespace anneal {

struct ImageDataset {
  mx::array images = mx::array(0);  // uint8 [N, H, W, C]
  mx::array labels = mx::array(0);  // int32 [N]; all zeros when unlabelled
  int num_classes = 0;              // 0 when unlabelled
  int size() const { return images.shape(0); }
};

// Loads and concatenates shards (safetensors with `images` U8 [N,H,W,C] and `labels` I32 [N]).
ImageDataset load_shards(const std::vector<std::string>& paths, int num_classes);

struct DataCursor {
  std::int64_t epoch = 0;
  std::int64_t position = 0;  // index into the epoch's permutation
};

// Fisher-Yates with splitmix64, so the permutation is identical on every platform.
std::vector<std::int32_t> epoch_permutation(int n, std::uint64_t seed, std::int64_t epoch);

class BatchSampler {
 public:
  BatchSampler(int dataset_size, int batch_size, std::uint64_t seed, DataCursor cursor = {});
  // Indices of the next batch; drops an epoch's remainder that cannot fill a batch.
  std::vector<std::int32_t> next();
  DataCursor cursor() const { return cursor_; }
  // Moves to `cursor` (a resumed or rolled-back position). The cached permutation stays
  // valid while the epoch does: it depends only on (seed, epoch).
  void seek(DataCursor cursor) { cursor_ = cursor; }
  // Epoch permutations computed so far (each is O(dataset size)): one per epoch reached.
  long permutations_built() const { return permutations_built_; }

 private:
  int n_, batch_;
  std::uint64_t seed_;
  DataCursor cursor_;
  std::vector<std::int32_t> perm_;
  std::int64_t perm_epoch_ = -1;
  long permutations_built_ = 0;
};

// More than one image shape in one run. A bucket is one ImageDataset of one (height, width);
// a stage is a range of steps and the buckets its batches come from. Multi-resolution
// training (buckets of several sizes and aspects) is one stage over every bucket; a
// progressive curriculum is one stage per resolution, low to high; a single-resolution run
// is one bucket in one stage. Each batch comes from one bucket, so the U-Net, which is
// convolutional except for attention over all positions, sees one shape per step.
struct TrainingStage {
  long end_step = 0;         // the stage takes steps [previous stage's end_step, end_step)
  std::vector<int> buckets;  // indices into the trainer's buckets
};

// The stage of the step being taken (0-based `step`): the first whose end_step is past it;
// steps beyond the last end stay in the last stage.
int stage_of(const std::vector<TrainingStage>& stages, long step);

// The bucket step `step` draws its batch from, among `candidates`, with probability
// proportional to `weights[bucket]` (its image count: every image is seen about equally
// often). A pure function of (seed, step), so a resumed run draws what an uninterrupted one
// would have; the buckets' own cursors keep each one's epoch order.
int choose_bucket(const std::vector<int>& candidates, const std::vector<long>& weights, std::uint64_t seed,
                  long step);

// images[idx] as float in [-1, 1], and labels[idx].
std::pair<mx::array, mx::array> gather_batch(const ImageDataset& d, const std::vector<std::int32_t>& idx);

}  // namespace anneal
