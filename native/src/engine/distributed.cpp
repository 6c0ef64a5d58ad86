#include "engine/distributed.h"

#include <mutex>
#include <stdexcept>

namespace anneal {

namespace {
std::mutex mutex;
std::shared_ptr<mlx::core::distributed::Group> group;
DistributedGroupInfo info;
}  // namespace

DistributedGroupInfo init_distributed(const std::string& backend) {
  namespace dist = mlx::core::distributed;
  std::lock_guard<std::mutex> lock(mutex);
  if (group) {
    if (backend != info.backend) {
      throw std::invalid_argument("this process already joined a " + info.backend + " group; it cannot join a " +
                                  backend + " one");
    }
    return info;
  }
  if (!dist::is_available(backend)) {
    throw std::invalid_argument("MLX's distributed backend '" + backend +
                                "' is not available in this build (ring, jaccl, mpi, nccl or any)");
  }
  try {
    group = std::make_shared<dist::Group>(dist::init(/*strict=*/true, backend));
  } catch (const std::exception& e) {
    throw std::runtime_error("could not join the " + backend + " group: " + e.what());
  }
  info = {group->rank(), group->size(), backend};
  return info;
}

std::shared_ptr<mlx::core::distributed::Group> distributed_group() {
  std::lock_guard<std::mutex> lock(mutex);
  return group;
}

DistributedGroupInfo distributed_info() {
  std::lock_guard<std::mutex> lock(mutex);
  return info;
}

}  // namespace anneal
