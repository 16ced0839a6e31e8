// Worlds by name. Adding a world: its own folder, one line in registry.cc, and a config.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/transformer.h"
#include "core/world/world.h"

namespace maskgrpo {

// Settings of every world, from the `world` block of a process's config. A world reads
// what it needs and rejects settings it does not use, so that a typo is not ignored.
struct WorldOptions {
  std::string name = "shapeworld";
  // Prompt source: empty = the world's own (ShapeWorld's generated split). A prompt file
  // is JSON lines ({"prompt", optional GenEval "tag"/"include"/"exclude"}); a separate
  // held-out file, or `heldout_fraction` of the prompt file chosen with `split_seed`.
  std::string prompt_file;
  std::string heldout_prompt_file;
  double heldout_fraction = 0.1;
  uint64_t split_seed = 1;
  // Show-o: the Phi-1.5 tokenizer folder (vocab.json, merges.txt, added tokens), the
  // MAGVIT-v2 checkpoint folder or file, and where the decoder runs.
  std::string tokenizer_dir;
  std::string vq_model;
  DeviceOptions decoder_device;
  int64_t max_text_len = 129;  // Show-o's max_seq_length + 1
  int64_t image_tokens = 1024;  // 1024 (512 px) or 256 (256 px)
};

StatusOr<std::unique_ptr<World>> CreateWorld(const WorldOptions& options);
std::vector<std::string> WorldNames();

}  // namespace maskgrpo
