// The run report: one self-contained HTML file (inline SVG charts, images as data URIs)
// built from a run folder: reward and eval curves from metrics.jsonl, the per-task table
// before and after, the sample grids before and after, and the config.
#pragma once

#include <string>

#include "core/status.h"

namespace maskgrpo::app {

// Writes run_dir/report.html; `title` heads the page.
Status WriteRunReport(const std::string& run_dir, const std::string& title);

}  // namespace maskgrpo::app
