#include "app/flags.h"

#include <cstdlib>

namespace maskgrpo::app {

StatusOr<Flags> Flags::Parse(const std::vector<std::string>& args, const std::set<std::string>& known) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) return InvalidArgument("unexpected argument '" + a + "' (flags look like --name value)");
    std::string name = a.substr(2), value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) return InvalidArgument("flag --" + name + " needs a value");
      value = args[++i];
    }
    if (!known.count(name)) {
      std::string list;
      for (const auto& k : known) list += " --" + k;
      return InvalidArgument("unknown flag --" + name + "; this command accepts:" + list);
    }
    flags.values_[name] = value;
  }
  return flags;
}

bool Flags::WantsHelp(const std::vector<std::string>& args) {
  // Only where a flag name is expected: in "--worker-id -h", -h is a value.
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") return true;
    if (a.rfind("--", 0) == 0 && a.find('=') == std::string::npos) ++i;  // skip its value
  }
  return false;
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Status Flags::GetInt(const std::string& name, int64_t* out) const {
  if (!Has(name)) return Status::Ok();
  const std::string& v = values_.at(name);
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') return InvalidArgument("flag --" + name + ": '" + v + "' is not an integer");
  *out = x;
  return Status::Ok();
}

Status Flags::GetUint(const std::string& name, uint64_t* out) const {
  int64_t x = 0;
  RETURN_IF_ERROR(GetInt(name, &x));
  if (!Has(name)) return Status::Ok();
  if (x < 0) return InvalidArgument("flag --" + name + " must be >= 0");
  *out = static_cast<uint64_t>(x);
  return Status::Ok();
}

Status Flags::GetDouble(const std::string& name, double* out) const {
  if (!Has(name)) return Status::Ok();
  const std::string& v = values_.at(name);
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') return InvalidArgument("flag --" + name + ": '" + v + "' is not a number");
  *out = x;
  return Status::Ok();
}

}  // namespace maskgrpo::app
