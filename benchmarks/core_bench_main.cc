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
    else {
      std::fprintf(stderr, "unknown flag %s\nflags: --model shapeworld|showo512 --checkpoint F --device D --dtype T "
                           "--threads N --batch N --steps N --guidance W --repeats N\n", a.c_str());
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
