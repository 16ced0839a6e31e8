// Helpers shared by the fuzz targets (fuzz/README.md). A target's oracle is more than "does
// not crash": whatever a decoder accepts must round-trip or satisfy the documented
// invariants, checked with FUZZ_CHECK, which aborts so that libFuzzer saves the input.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#define FUZZ_CHECK(cond, what)                                                                   \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                   \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

namespace maskgrpo::fuzz {

// With MASKGRPO_FUZZ_VERBOSE=1 the targets say how far each input got (accepted, or the
// error), to check that the seed corpus reaches past the first checks.
inline void Note(const std::string& what) {
  static const bool verbose = [] {
    const char* v = std::getenv("MASKGRPO_FUZZ_VERBOSE");
    return v && *v && *v != '0';
  }();
  if (verbose) std::fprintf(stderr, "fuzz: %s\n", what.c_str());
}

// A file of this process for decoders that read paths (one name per process and suffix, so
// that parallel fuzzing jobs do not share it). Overwritten on each call.
inline std::string WriteScratchFile(const std::string& suffix, const uint8_t* data, size_t size) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/maskgrpo_fuzz_" +
                           std::to_string(::getpid()) + suffix;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  FUZZ_CHECK(out.good(), "cannot write the scratch file " + path);
  return path;
}

}  // namespace maskgrpo::fuzz
