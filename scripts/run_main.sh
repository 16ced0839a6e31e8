#!/usr/bin/env bash
# The main job on the embedded default (ShapeWorld): set up, pretrain the base model if it
# is not there, then Mask-GRPO fine-tuning with the whole distributed system on this
# machine (`maskgrpo launch`: a reward server, the learner and 2 rollout workers as child
# processes on 127.0.0.1; about 24 minutes on 2 CPU cores) and the held-out table before
# and after. Output: runs/main/ with report.html (see docs/run-folder.md); rerunning resumes
# or just reprints the result. The same training in one process: `maskgrpo train`.
set -euo pipefail
# Transparent huge pages for the heap (core/runtime.h); a setting of your own wins.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# Only the executables the main job runs (`maskgrpo launch` starts the other three from the
# same folder): about half the full build, which adds tests, benchmarks and fuzz targets
# (scripts/test.sh builds everything).
bash scripts/build.sh maskgrpo learner rollout_worker reward_server

BASE=models/shapeworld_base.safetensors
OUT=runs/main
if [ ! -f "$BASE" ]; then
  echo "== no base model at $BASE: pretraining it (about 15 minutes on 2 cores)"
  build/bin/maskgrpo pretrain --config configs/pretrain.textproto --out runs/pretrain
  mkdir -p models
  cp runs/pretrain/model.safetensors "$BASE"
fi
echo "== Mask-GRPO training from $BASE with the distributed system (configs/launch.textproto) into $OUT"
build/bin/maskgrpo launch --config configs/launch.textproto --out "$OUT"
echo "== held-out GenEval-style table before and after training"
python3 scripts/compare_evals.py "$OUT"
echo "== sample grids: $OUT/eval/v000000/grid.png (before), $OUT/eval/$(ls "$OUT/eval" | tail -n 1)/grid.png (after)"
echo "== report with curves, tables, grids and the config: $OUT/report.html"
