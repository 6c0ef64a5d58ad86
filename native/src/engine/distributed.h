// The process's data-parallel group on MLX's distributed layer: the ring backend over TCP
// (MLX_RANK and MLX_HOSTFILE, a JSON list of each rank's "host:port"), JACCL over
// Thunderbolt, MPI or NCCL, whichever MLX finds for `backend`. Initialized once per process
// (MLX allows one group per backend), then handed to the trainers that train data-parallel.
#pragma once

#include <memory>
#include <string>

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

}  // namespace anneal
