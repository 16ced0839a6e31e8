// Command-line flags: "--name value" or "--name=value", checked against the flags a
// command accepts, so a typo is an error rather than silently ignored.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace maskgrpo::app {

class Flags {
 public:
  static StatusOr<Flags> Parse(const std::vector<std::string>& args, const std::set<std::string>& known);
  // True when the arguments ask for the usage text (--help or -h anywhere): commands print
  // it to stdout and exit 0 instead of treating it as a malformed flag.
  static bool WantsHelp(const std::vector<std::string>& args);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Typed getters: a value that does not parse is an error naming the flag.
  Status GetInt(const std::string& name, int64_t* out) const;
  Status GetUint(const std::string& name, uint64_t* out) const;
  Status GetDouble(const std::string& name, double* out) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace maskgrpo::app
