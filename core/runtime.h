// Process-wide LibTorch settings.
#pragma once

namespace maskgrpo {

// Sets LibTorch's intra-op thread count (0 = all available cores). LibTorch defaults to
// a single thread on the project's machines, so every command calls this first.
void ConfigureThreads(int threads);

}  // namespace maskgrpo
