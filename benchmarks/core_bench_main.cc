// maskgrpo_core_bench: the sampler benchmark with plain flags, for machines that build the
// core library only (e.g. a GPU box with PyTorch's LibTorch and no protobuf).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "benchmarks/sampler_bench.h"

int main(int argc, char** argv) {
  maskgrpo::SamplerBenchOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "flag %s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--model") o.model = next();
    else if (a == "--checkpoint") o.checkpoint = next();
    else if (a == "--device") o.device.device = next();
    else if (a == "--dtype") o.device.dtype = next();
    else if (a == "--threads") o.threads = std::atoi(next().c_str());
    else if (a == "--batch") o.batch = std::atoi(next().c_str());
    else if (a == "--steps") o.steps = std::atoi(next().c_str());
    else if (a == "--guidance") o.guidance = std::atof(next().c_str());
    else if (a == "--repeats") o.repeats = std::atoi(next().c_str());
    else if (a == "--forward-prompts") o.forward_prompts = std::atoi(next().c_str());
    else if (a == "--loop-codes") o.loop_codes = next();
    else if (a == "--loop-seed") o.loop_seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--sweep") {
      std::string list = next();
      for (size_t start = 0; start <= list.size();) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        if (end > start) o.sweep.push_back(std::atoi(list.substr(start, end - start).c_str()));
        start = end + 1;
      }
    }
    else {
      std::fprintf(stderr, "unknown flag %s\nflags: --model shapeworld|mid|showo512 --checkpoint F --device D --dtype T "
                           "--threads N --batch N --steps N --guidance W --repeats N --sweep B1,B2,... --forward-prompts N "
                           "--loop-codes F.npy --loop-seed S\n", a.c_str());
      return 2;
    }
  }
  auto st = maskgrpo::RunSamplerBench(o);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
