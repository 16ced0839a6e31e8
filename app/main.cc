// build/bin/maskgrpo: the project's command-line entry point.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/flags.h"

namespace {

const char kUsage[] =
    "usage: maskgrpo <command> [flags]\n"
    "\n"
    "commands:\n"
    "  pretrain  supervised masked-token pretraining of the ShapeWorld base model (resumable)\n"
    "            --config F --out DIR --steps N --batch-size N --seed N --threads N --device D --dtype T\n"
    "  eval      GenEval-style evaluation on the held-out prompts; writes DIR/eval.json\n"
    "            --checkpoint PATH --out DIR [--config F --images-per-prompt K --prompts-per-task N (0: every\n"
    "             prompt of the split once, the broad evaluation) --min-images-per-task M\n"
    "             --split heldout|train (train: training prompts, to compare fit with generalisation)\n"
    "             --sampling-steps T --guidance W --seed N --threads N --device D --dtype T]\n"
    "  generate  prompts to a PNG grid with the prompt under each image\n"
    "            --checkpoint PATH --out FILE.png [--prompt TEXT --config F --images-per-prompt K ...]\n"
    "  train     Mask-GRPO fine-tuning in one process (rollouts, ShapeWorld rewards, GRPO updates,\n"
    "            held-out eval); resumes from OUT's latest checkpoint\n"
    "            [--config F --out DIR --init MODEL --updates N --stop-after N --eval-every N --seed N\n"
    "             --dump-groups true|false --threads N --device D --dtype T]\n"
    "  launch    the distributed system on this machine: reward server(s), learner and rollout\n"
    "            workers as child processes on 127.0.0.1, one progress line, report.html at the end\n"
    "            [--config F --out DIR --workers N --reward-servers M --updates N --bin-dir DIR]\n"
    "  bench     sampler images/s and transformer GFLOP/s next to a plain matmul's\n"
    "            [--model shapeworld|mid|showo512|magvit512|magvit256 --checkpoint F --batch N --sampling-steps T\n"
    "             --guidance W --repeats N --threads N --device D --dtype T --sweep B1,B2,... (images/s per batch)\n"
    "             --forward-prompts N (the sampler's prompts per forward; 0: 64 on a CPU, the whole batch on a GPU)\n"
    "             --loop-codes F.npy --loop-seed S (write the authors'-style loop's first image, for\n"
    "             benchmarks/authors_loop.py, the same loop in Python)]\n"
    "  check-config  parse config files as a process's typed config (unknown fields are errors)\n"
    "            learner|rollout_worker|reward_server|launch|train|eval|generate|pretrain FILE...\n"
    "  score     PNG files against a prompt: a reward server config's scorers in process, or a\n"
    "            running reward server; prints each image's reward and components\n"
    "            --prompt TEXT (--reward-config F | --server HOST:PORT) IMAGE.png...\n"
    "  convert   a torch.save checkpoint (.bin/.pt/.pth) to safetensors, natively\n"
    "            --in FILE --out FILE.safetensors [--inner-key KEY (e.g. state_dict)]\n"
    "\n"
    "  eval, generate and train work in a world (config block `world`): ShapeWorld by default,\n"
    "  or Show-o from its published files (configs/showo512/world.md); --checkpoint may then be\n"
    "  a published Show-o folder.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  // `maskgrpo <command> --help` prints the usage (every command's flags are in it).
  if (maskgrpo::app::Flags::WantsHelp(args)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "pretrain") return maskgrpo::app::PretrainCommand(args);
  if (command == "eval") return maskgrpo::app::EvalCommand(args);
  if (command == "generate") return maskgrpo::app::GenerateCommand(args);
  if (command == "train") return maskgrpo::app::TrainCommand(args);
  if (command == "launch") return maskgrpo::app::LaunchCommand(args);
  if (command == "bench") return maskgrpo::app::BenchCommand(args);
  if (command == "check-config") return maskgrpo::app::CheckConfigCommand(args);
  if (command == "convert") return maskgrpo::app::ConvertCommand(args);
  if (command == "score") return maskgrpo::app::ScoreCommand(args);
  std::fprintf(stderr, "unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
