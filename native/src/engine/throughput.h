// Short measured checks of what this machine sustains: matmul and U-Net-like convolution
// throughput. `anneal doctor` prints them and the presets are sized from them.
#pragma once

#include <functional>

namespace anneal {

struct ThroughputResult {
  double gflops = 0;          // median over the timed iterations
  double seconds = 0;         // median seconds per iteration
  double flops = 0;           // floating-point operations per iteration
  int iterations = 0;
};

// C = A B with square float32 matrices of size n.
ThroughputResult measure_matmul(int n, int iterations);

// 3x3 "same" convolution forward and backward (input and weight gradients) on an NHWC
// batch, the shape of a U-Net block: 2*N*H*W*C_in*C_out*k*k FLOPs forward, twice that back.
struct ConvShape {
  int batch = 64;
  int size = 32;
  int channels = 64;
  int kernel = 3;
};
ThroughputResult measure_conv(const ConvShape& shape, int iterations);

// Runs `fn` (which must evaluate its own outputs) once to warm up, then `iterations`
// times, returning the median wall time in seconds.
double median_seconds(const std::function<void()>& fn, int iterations);

}  // namespace anneal
