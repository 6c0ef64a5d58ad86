#include "engine/distributed.h"

#include <mutex>
#include <stdexcept>

#include <mlx/distributed/ops.h>
#include <mlx/ops.h>

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

void all_sum_buckets(std::vector<mlx::core::array>& grads, mlx::core::array& loss_sum,
                     const mlx::core::distributed::Group& group) {
  namespace mx = mlx::core;
  std::vector<mx::array*> items{&loss_sum};
  for (auto& g : grads) items.push_back(&g);
  std::size_t i = 0;
  while (i < items.size()) {
    std::vector<mx::array*> bucket;
    std::size_t bytes = 0;
    while (i < items.size() && (bucket.empty() || bytes + items[i]->nbytes() <= kAllSumBucketBytes)) {
      bytes += items[i]->nbytes();
      bucket.push_back(items[i++]);
    }
    std::vector<mx::array> flat;
    for (auto* a : bucket) flat.push_back(mx::reshape(*a, {-1}));
    auto sum = mx::distributed::all_sum(mx::concatenate(flat, 0), group);
    int offset = 0;
    for (auto* a : bucket) {
      const int n = static_cast<int>(a->size());
      *a = mx::reshape(mx::slice(sum, {offset}, {offset + n}), a->shape());
      offset += n;
    }
  }
}

}  // namespace anneal
