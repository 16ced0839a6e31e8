// `maskgrpo convert`: a torch.save checkpoint (.bin / .pt / .pth, zip or legacy format) to
// safetensors, read natively (no Python). The loaders read pickled files directly too; a
// converted file loads faster and can be memory-mapped by other tools.
#include <cstdio>

#include "app/commands.h"
#include "app/flags.h"
#include "core/checkpoint/torch_pickle.h"
#include "core/safetensors.h"

namespace maskgrpo::app {

int ConvertCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"in", "out", "inner-key"});
  if (!flags.ok()) {
    std::fprintf(stderr, "error: %s\n", flags.status().ToString().c_str());
    return 2;
  }
  if (!flags->Has("in") || !flags->Has("out")) {
    std::fprintf(stderr, "error: convert needs --in CHECKPOINT.bin and --out FILE.safetensors\n");
    return 2;
  }
  TorchCheckpointOptions options;
  options.inner_key = flags->Get("inner-key", "");
  Status st = ConvertTorchCheckpointToSafetensors(flags->Get("in"), flags->Get("out"), options);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
    return 1;
  }
  auto written = ReadSafetensors(flags->Get("out"));
  if (!written.ok()) {
    std::fprintf(stderr, "error: reading back %s: %s\n", flags->Get("out").c_str(), written.status().ToString().c_str());
    return 1;
  }
  int64_t values = 0;
  for (const auto& [name, t] : written->tensors) values += t.numel();
  std::printf("wrote %s: %zu tensors, %lld values\n", flags->Get("out").c_str(), written->tensors.size(),
              static_cast<long long>(values));
  return 0;
}

}  // namespace maskgrpo::app
