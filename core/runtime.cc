#include "core/runtime.h"

#include <torch/torch.h>

#include <thread>

namespace maskgrpo {

void ConfigureThreads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
}

}  // namespace maskgrpo
