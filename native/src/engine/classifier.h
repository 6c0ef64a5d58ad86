// Feature networks for measuring sample quality (DESIGN.md section 4): a small CNN
// classifier for labelled datasets, or the encoder of a denoising autoencoder for
// unlabelled ones. Both share the encoder; features are its penultimate layer, the role
// Inception-v3's pool3 plays for FID (Heusel et al. 2017), but trained on the dataset
// itself so it sees what matters at MNIST/shapes scale.
#pragma once

#include <string>
#include <vector>

#include "engine/params.h"

namespace anneal {

enum class ExtractorKind { Classifier, Autoencoder };

struct ExtractorConfig {
  ExtractorKind kind = ExtractorKind::Classifier;
  int resolution = 28;  // the images' height, and their width unless `width` is given
  int width = 0;        // > 0: images of resolution x width (a multi-resolution model's bucket)
  int in_channels = 1;
  std::vector<int> channels{32, 64, 128};  // per level; every level after the first halves H, W
  int feature_dim = 128;
  int groups = 8;        // GroupNorm groups; every entry of `channels` must be divisible
  int num_classes = 0;   // classifier only
};

ExtractorKind parse_extractor_kind(const std::string& s);
std::string extractor_kind_name(ExtractorKind k);

// Throws std::invalid_argument naming the bad field.
void check_extractor_config(const ExtractorConfig& c);

// The images' width: `width`, or `resolution` for square images.
inline int extractor_width(const ExtractorConfig& c) { return c.width > 0 ? c.width : c.resolution; }

// torch-default initialization from a key.
Params init_extractor(const ExtractorConfig& c, mx::array key);

// x: float [B, H, W, C] in [-1, 1] -> features [B, feature_dim] (after SiLU, so the head
// and the decoder read the same vector the metrics do).
mx::array extractor_features(const Params& p, const ExtractorConfig& c, const mx::array& x);

// Classifier: features -> logits [B, num_classes].
mx::array classifier_logits(const Params& p, const ExtractorConfig& c, const mx::array& features);

// Autoencoder: features -> reconstruction [B, H, W, C] in [-1, 1].
mx::array autoencoder_decode(const Params& p, const ExtractorConfig& c, const mx::array& features);

}  // namespace anneal
