#include "app/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <vector>

#include "core/json.h"
#include "core/safetensors.h"

namespace maskgrpo::app {
namespace {

namespace fs = std::filesystem;

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;
};

// A line chart as inline SVG: x = version, y in [0, 1].
std::string Chart(const std::string& title, const std::vector<Series>& series) {
  const double W = 560, H = 260, L = 48, R = 12, T = 28, B = 36;
  double xmax = 1;
  for (const auto& s : series)
    for (const auto& p : s.points) xmax = std::max(xmax, p.first);
  auto X = [&](double x) { return L + (W - L - R) * x / xmax; };
  auto Y = [&](double y) { return T + (H - T - B) * (1.0 - std::clamp(y, 0.0, 1.0)); };
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "'>";
  o << "<text x='" << L << "' y='18' font-size='14' font-weight='bold'>" << Escape(title) << "</text>";
  for (double y = 0; y <= 1.0001; y += 0.25) {
    o << "<line x1='" << L << "' x2='" << W - R << "' y1='" << Y(y) << "' y2='" << Y(y) << "' stroke='#ddd'/>";
    o << "<text x='" << L - 6 << "' y='" << Y(y) + 4 << "' font-size='11' text-anchor='end'>" << y << "</text>";
  }
  o << "<text x='" << (L + W - R) / 2 << "' y='" << H - 6 << "' font-size='11' text-anchor='middle'>policy version (0 .. "
    << xmax << ")</text>";
  double legend_x = L + 200;
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    o << "<polyline fill='none' stroke='" << s.color << "' stroke-width='2' points='";
    for (const auto& p : s.points) o << X(p.first) << "," << Y(p.second) << " ";
    o << "'/>";
    for (const auto& p : s.points) {
      if (s.points.size() < 40) o << "<circle cx='" << X(p.first) << "' cy='" << Y(p.second) << "' r='3' fill='" << s.color << "'/>";
    }
    o << "<text x='" << legend_x << "' y='18' font-size='12' fill='" << s.color << "'>" << Escape(s.name) << "</text>";
    legend_x += 150;
  }
  o << "</svg>";
  return o.str();
}

std::string ImageTag(const std::string& path) {
  auto bytes = ReadFileToString(path);
  if (!bytes.ok()) return "<p>(no image at " + Escape(path) + ")</p>";
  return "<img style='image-rendering:pixelated;max-width:100%' src='data:image/png;base64," + Base64(*bytes) + "'/>";
}

}  // namespace

Status WriteRunReport(const std::string& run_dir, const std::string& title) {
  ASSIGN_OR_RETURN(std::string metrics_text, ReadFileToString(run_dir + "/metrics.jsonl"));
  Series reward{"sampled reward (mean)", "#1f77b4", {}}, evals{"held-out overall", "#d62728", {}},
      dense{"held-out dense reward", "#ff7f0e", {}};
  std::istringstream lines(metrics_text);
  // The reward components and image statistics of the first and the last update: drift in a
  // statistic while the reward rises is what reward hacking looks like.
  Json first_components, last_components;
  int64_t first_version = -1, last_version = -1;
  for (std::string line; std::getline(lines, line);) {
    auto j = Json::Parse(line);
    if (!j.ok()) continue;
    const Json* kind = j->Find("kind");
    const Json* version = j->Find("version");
    if (!kind || !version || !version->is_number()) continue;
    if (kind->as_string() == "update" && j->Find("components") && j->Find("components")->is_object()) {
      if (first_version < 0) first_version = static_cast<int64_t>(version->as_number()), first_components = *j->Find("components");
      last_version = static_cast<int64_t>(version->as_number());
      last_components = *j->Find("components");
    }
    if (kind->as_string() == "update" && j->Find("reward_mean")) {
      reward.points.emplace_back(version->as_number(), j->Find("reward_mean")->as_number());
    } else if (kind->as_string() == "eval") {
      evals.points.emplace_back(version->as_number(), j->Find("overall")->as_number());
      dense.points.emplace_back(version->as_number(), j->Find("mean_dense_reward")->as_number());
    }
  }
  std::vector<std::string> eval_dirs;
  if (fs::exists(run_dir + "/eval")) {
    for (const auto& e : fs::directory_iterator(run_dir + "/eval")) {
      if (fs::exists(e.path() / "eval.json")) eval_dirs.push_back(e.path().filename().string());
    }
  }
  std::sort(eval_dirs.begin(), eval_dirs.end());
  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset='utf-8'><title>" << Escape(title) << "</title>"
       << "<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse}"
       << "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th:first-child,td:first-child{text-align:left}"
       << "pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}</style></head><body>";
  html << "<h1>" << Escape(title) << "</h1><p>Run folder: <code>" << Escape(run_dir) << "</code></p>";
  html << Chart("Reward during training", {reward}) << " " << Chart("Held-out evaluation", {evals, dense});
  if (first_version >= 0) {
    html << "<h2>Reward components and image statistics (mean per update)</h2><table><tr><th>component</th><th>v"
         << first_version << "</th><th>v" << last_version << "</th><th>change</th></tr>";
    for (const auto& [name, value] : first_components.as_object()) {
      const Json* after = last_components.Find(name);
      if (!value.is_number() || !after || !after->is_number()) continue;
      char row[320];
      std::snprintf(row, sizeof(row), "<tr><td>%s</td><td>%.4f</td><td>%.4f</td><td>%+.4f</td></tr>", Escape(name).c_str(),
                    value.as_number(), after->as_number(), after->as_number() - value.as_number());
      html << row;
    }
    html << "</table>";
  }
  if (!eval_dirs.empty()) {
    const std::string first = eval_dirs.front(), last = eval_dirs.back();
    ASSIGN_OR_RETURN(std::string a_text, ReadFileToString(run_dir + "/eval/" + first + "/eval.json"));
    ASSIGN_OR_RETURN(std::string b_text, ReadFileToString(run_dir + "/eval/" + last + "/eval.json"));
    ASSIGN_OR_RETURN(Json a, Json::Parse(a_text));
    ASSIGN_OR_RETURN(Json b, Json::Parse(b_text));
    html << "<h2>Held-out GenEval-style scores</h2><table><tr><th>task</th><th>before (" << first << ")</th><th>after ("
         << last << ")</th><th>change</th></tr>";
    if (const Json* tasks = a.Find("tasks"); tasks && tasks->is_object()) {
      for (const auto& [task, score] : tasks->as_object()) {
        const Json* after = b.Find("tasks") ? b.Find("tasks")->Find(task) : nullptr;
        const double x = score.as_number(), y = after ? after->as_number() : NAN;
        char row[256];
        std::snprintf(row, sizeof(row), "<tr><td>%s</td><td>%.3f</td><td>%.3f</td><td>%+.3f</td></tr>", task.c_str(), x, y, y - x);
        html << row;
      }
    }
    char row[256];
    const double x = a.Find("overall")->as_number(), y = b.Find("overall")->as_number();
    std::snprintf(row, sizeof(row), "<tr><th>overall</th><th>%.3f</th><th>%.3f</th><th>%+.3f</th></tr></table>", x, y, y - x);
    html << row;
    html << "<h2>Sample grids</h2><h3>Before (" << first << ")</h3>" << ImageTag(run_dir + "/eval/" + first + "/grid.png")
         << "<h3>After (" << last << ")</h3>" << ImageTag(run_dir + "/eval/" + last + "/grid.png");
  } else {
    html << "<p>No evaluation yet.</p>";
  }
  auto config = ReadFileToString(run_dir + "/config.textproto");
  html << "<h2>Config</h2><pre>" << Escape(config.ok() ? *config : "(no config.textproto)") << "</pre>";
  html << "</body></html>\n";
  return WriteFileAtomically(run_dir + "/report.html", html.str());
}

}  // namespace maskgrpo::app
