// JSON text in (core/json.h): whatever parses must dump to text that parses back to the same dump.
#include <cstdint>
#include <string>

#include "core/json.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto json = maskgrpo::Json::Parse(text);
  if (!json.ok()) {
    FUZZ_CHECK(!json.status().message().empty(), "an error without a message");
    return 0;
  }
  const std::string dumped = json->Dump();
  auto again = maskgrpo::Json::Parse(dumped);
  FUZZ_CHECK(again.ok(), "the dump of an accepted document does not parse: " + dumped);
  FUZZ_CHECK(again->Dump() == dumped, "dump is not stable: " + dumped);
  return 0;
}
