#include "rpc/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace maskgrpo::log {

void Init(const std::string& component) {
  auto logger = spdlog::stderr_color_mt(component);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void Info(const std::string& message) { spdlog::info("{}", message); }
void Warn(const std::string& message) { spdlog::warn("{}", message); }
void Error(const std::string& message) { spdlog::error("{}", message); }

}  // namespace maskgrpo::log
