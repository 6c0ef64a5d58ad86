// The process's data-parallel group on MLX's distributed layer: the ring backend over TCP
// (MLX_RANK and MLX_HOSTFILE, a JSON list of each rank's "host:port"), JACCL over
// Thunderbolt, MPI or NCCL, whichever MLX finds for `backend`. Initialized once per process
// (MLX allows one group per backend), then handed to the trainers that train data-parallel.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <mlx/array.h>
#include <mlx/distributed/distributed.h>

namespace anneal {

struct DistributedGroupInfo {
  int rank = 0;
  int size = 1;
  std::string backend;
};

// Joins the group (blocks until every rank has connected, as MLX's init does). Throws
// std::invalid_argument for a backend MLX does not have and std::runtime_error when it cannot
// form the group; a second call returns the group already formed if the backend is the same.
DistributedGroupInfo init_distributed(const std::string& backend);

// The group init_distributed formed; null before it.
std::shared_ptr<mlx::core::distributed::Group> distributed_group();
DistributedGroupInfo distributed_info();

// The largest bucket all_sum_buckets sums in one collective.
constexpr std::size_t kAllSumBucketBytes = 32u << 20;

// The group's sum of every gradient and the loss sum, in place and in few collectives: the
// arrays are flattened into buckets of up to kAllSumBucketBytes (the loss rides in the
// first), each bucket all_summed once and split back. One collective per parameter would be
// hundreds of round trips per step, which a link's latency, not its bandwidth, would then
// bound. Lazy: it builds the graph (a data-parallel step compiles it into its update).
void all_sum_buckets(std::vector<mlx::core::array>& grads, mlx::core::array& loss_sum,
                     const mlx::core::distributed::Group& group);

}  // namespace anneal
