#include "learner/ledger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "rpc/convert.h"

namespace maskgrpo::learner {
namespace {

Status WriteAll(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal("cannot append to " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path, std::string incarnation) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return FailedPrecondition("cannot open " + path + ": " + std::strerror(errno));
  std::unique_ptr<Ledger> ledger(new Ledger(path, std::move(incarnation), fd));
  // A torn last line (no newline) is closed, so this incarnation's first line stands alone.
  struct stat sb;
  if (::fstat(fd, &sb) == 0 && sb.st_size > 0) {
    const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char last = '\n';
    if (rfd >= 0) {
      if (::pread(rfd, &last, 1, sb.st_size - 1) != 1) last = '\n';
      ::close(rfd);
    }
    if (last != '\n') RETURN_IF_ERROR(WriteAll(fd, "\n", path));
  }
  return ledger;
}

Ledger::~Ledger() {
  if (fd_ >= 0) ::close(fd_);
}

Status Ledger::Append(Json line) {
  line["inc"] = incarnation_;
  line["t"] = rpc::NowUnixMs();
  const std::string text = line.Dump() + "\n";
  sync::MutexLock lock(&mu_);
  return WriteAll(fd_, text, path_);
}

StatusOr<std::set<std::string>> IncarnationsResumedFrom(const std::string& path, const std::string& from_incarnation,
                                                        int64_t from_seq) {
  std::set<std::string> out;
  std::ifstream in(path);
  if (!in) return out;  // no ledger yet
  for (std::string text; std::getline(in, text);) {
    if (text.find("\"start\"") == std::string::npos) continue;  // most lines: parse only the starts
    auto line = Json::Parse(text);
    if (!line.ok() || !line->is_object()) continue;
    const Json* event = line->Find("event");
    const Json* inc = line->Find("inc");
    const Json* from = line->Find("resumed_from");
    if (!event || !event->is_string() || event->as_string() != "start" || !inc || !inc->is_string()) continue;
    bool same = false;
    if (from_incarnation.empty()) {
      same = from == nullptr || !from->is_object();  // a fresh start too
    } else if (from && from->is_object()) {
      const Json* fi = from->Find("incarnation");
      const Json* fs = from->Find("seq");
      // A corrupt number (NaN, 1e300) is no checkpoint number: compared as a double, never cast.
      same = fi && fi->is_string() && fi->as_string() == from_incarnation && fs && fs->is_number() &&
             fs->as_number() == static_cast<double>(from_seq);
    }
    if (same) out.insert(inc->as_string());
  }
  if (in.bad()) return DataLoss(path + ": read error");
  return out;
}

int64_t FailpointPauseMs(const std::string& name) {
  const char* spec = std::getenv("MASKGRPO_FAILPOINT");
  if (spec == nullptr) return 0;
  std::stringstream items(spec);
  std::string item;
  int64_t ms = 0;
  while (std::getline(items, item, ',')) {
    const auto colon = item.find(':');
    if (item.substr(0, colon) != name || colon == std::string::npos) continue;
    ms = std::atoll(item.c_str() + colon + 1);
  }
  if (ms <= 0) return 0;
  if (const char* arm = std::getenv("MASKGRPO_FAILPOINT_ARM_DIR"); arm != nullptr && *arm != '\0') {
    struct stat sb;
    if (::stat((std::string(arm) + "/" + name).c_str(), &sb) != 0) return 0;
  }
  return ms;
}

}  // namespace maskgrpo::learner
