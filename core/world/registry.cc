#include "core/world/registry.h"

#include <functional>
#include <utility>

#include "core/shapeworld/shapeworld_world.h"
#include "core/showo/showo_world.h"

namespace maskgrpo {
namespace {

using Factory = std::function<StatusOr<std::unique_ptr<World>>(const WorldOptions&)>;

const std::vector<std::pair<std::string, Factory>>& Registry() {
  static const std::vector<std::pair<std::string, Factory>> worlds{
      {"shapeworld", shapeworld::ShapeWorldWorld::Create},
      {"showo", showo::ShowoWorld::Create},
  };
  return worlds;
}

}  // namespace

std::vector<std::string> WorldNames() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Registry()) names.push_back(name);
  return names;
}

StatusOr<std::unique_ptr<World>> CreateWorld(const WorldOptions& options) {
  for (const auto& [name, factory] : Registry()) {
    if (name == options.name) return factory(options);
  }
  std::string known;
  for (const auto& name : WorldNames()) known += (known.empty() ? "" : ", ") + name;
  return InvalidArgument("unknown world '" + options.name + "' (known: " + known + ")");
}

}  // namespace maskgrpo
