// The subcommands of build/bin/maskgrpo. Each takes the arguments after its name and
// returns a process exit code (0 ok, 1 runtime failure, 2 bad usage / bad input).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace maskgrpo::app {

// Prints "error: <status>" to stderr and returns the subcommand's exit code for it: 2 for bad
// input (an invalid or missing argument, file or field), 1 for anything else.
int ReportError(const Status& st);

int PretrainCommand(const std::vector<std::string>& args);
int EvalCommand(const std::vector<std::string>& args);
int GenerateCommand(const std::vector<std::string>& args);
int TrainCommand(const std::vector<std::string>& args);
int BenchCommand(const std::vector<std::string>& args);
int LaunchCommand(const std::vector<std::string>& args);
int CheckConfigCommand(const std::vector<std::string>& args);
int ConvertCommand(const std::vector<std::string>& args);
int ScoreCommand(const std::vector<std::string>& args);

}  // namespace maskgrpo::app
