// Training, checking and running the feature networks of classifier.h. Training reuses the
// engine's machinery: AdamW (optimizer.h), global-norm clipping, warmup + cosine LR, one
// compiled pure step and one mx::eval per step.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/classifier.h"
#include "engine/data.h"

namespace anneal {

struct ExtractorTraining {
  long steps = 1000;
  int batch_size = 64;
  double lr = 2e-3;
  long warmup_steps = 50;
  double weight_decay = 1e-4;
  double grad_clip = 1.0;
  double noise = 0.3;  // autoencoder: std of the Gaussian corruption in [-1, 1] pixel units
  int shift = 0;       // classifier: each training image moves by up to +-shift pixels (augmentation)
  std::uint64_t seed = 0;
  bool compile = true;
};

struct ExtractorProgress {
  long step = 0;
  long total = 0;
  float loss = 0;
};

struct ExtractorReport {
  double heldout_accuracy = -1;  // classifier: top-1 on the held-out split; -1 for autoencoders
  double heldout_loss = 0;       // cross-entropy, or the denoising MSE
  int heldout_count = 0;
  long steps = 0;
};

struct TrainedExtractor {
  Params params;
  ExtractorReport report;
};

// Trains from init_extractor(config, key(seed)) on `train`, then evaluates on `heldout`.
// Throws std::invalid_argument when the data does not match the config, naming both.
TrainedExtractor train_extractor(const ExtractorConfig& config, const ExtractorTraining& training,
                                 const ImageDataset& train, const ImageDataset& heldout,
                                 const std::function<void(const ExtractorProgress&)>& on_step = {});

ExtractorReport evaluate_extractor(const Params& params, const ExtractorConfig& config, const ImageDataset& heldout,
                                   const ExtractorTraining& training);

struct Extracted {
  std::vector<float> features;  // [n, feature_dim]
  std::vector<float> logits;    // [n, num_classes]; empty for autoencoders
  int n = 0;
  int dim = 0;
  int classes = 0;
};

// images: uint8 [N, H, W, C]. Runs in chunks so memory stays flat in N.
Extracted extract_features(const Params& params, const ExtractorConfig& config, const mx::array& images,
                           int chunk = 256);

}  // namespace anneal
