// Process-wide LibTorch settings.
#pragma once

namespace maskgrpo {

// Sets LibTorch's intra-op thread count (0 = all available cores). LibTorch defaults to
// a single thread on the project's machines, so every command calls this first; it also
// calls ConfigureAllocator.
void ConfigureThreads(int threads);

// Keeps freed tensor memory in the process instead of handing it back to the kernel.
// glibc serves large allocations with fresh mmaps and trims freed heap tops at once, so a
// sampler step or a learner update that allocates the same tensors as the one before pays
// page faults and zeroing for all of them again. Measured here (2 cores, ShapeWorld model):
// the sampler at batch 64 went from 12.6 to ~20 images/s, and a replay of 64 trajectories x
// 16 steps (forward + backward) from ~31 s to ~4.6 s once the heap has grown.
// The price is that a process keeps its peak heap. Idempotent; a no-op off glibc and with
// MASKGRPO_SYSTEM_MALLOC=1 in the environment.
// First touches stay expensive (~10 s for the replay's first update here); transparent huge
// pages cut that ~3x, but glibc reads that setting only at start-up, from the environment:
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (set by `maskgrpo launch` for its children, by the
// container images and by the scripts).
void ConfigureAllocator();

}  // namespace maskgrpo
