#include "core/runtime.h"

#include "core/torch_api.h"

#include <cstdlib>
#include <string>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace maskgrpo {

void ConfigureAllocator() {
#if defined(__GLIBC__)
  static const bool done = [] {
    // MASKGRPO_SYSTEM_MALLOC=1 keeps glibc's defaults: for comparisons and troubleshooting.
    if (const char* keep = std::getenv("MASKGRPO_SYSTEM_MALLOC"); keep && std::string(keep) == "1") return false;
    // Every allocation from the heap (no mmap: the threshold caps at 32 MiB, and a replay's
    // activations are hundreds of MiB each), never trimmed, grown 256 MiB at a time. Freed
    // blocks are then reused by the next step or update instead of being faulted in again.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);
    mallopt(M_TOP_PAD, 256 << 20);
    return true;
  }();
  (void)done;
#endif
}

void ConfigureThreads(int threads) {
  ConfigureAllocator();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
}

}  // namespace maskgrpo
