#!/usr/bin/env bash
# The main job on the embedded default (ShapeWorld): set up, pretrain the base model if it
# is not there, then Mask-GRPO fine-tuning with the default config (about 20 minutes on 2
# CPU cores) and the held-out table before and after.
# Output: runs/main/ (see docs/run-folder.md); rerunning resumes or just reprints the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh

BASE=models/shapeworld_base.safetensors
OUT=runs/main
if [ ! -f "$BASE" ]; then
  echo "== no base model at $BASE: pretraining it (about 15 minutes on 2 cores)"
  build/bin/maskgrpo pretrain --config configs/pretrain.textproto --out runs/pretrain
  mkdir -p models
  cp runs/pretrain/model.safetensors "$BASE"
fi
echo "== Mask-GRPO training from $BASE (configs/train.textproto) into $OUT"
build/bin/maskgrpo train --config configs/train.textproto --out "$OUT"
echo "== held-out GenEval-style table before and after training"
python3 scripts/compare_evals.py "$OUT"
echo "== sample grids: $OUT/eval/v000000/grid.png (before), $OUT/eval/$(ls "$OUT/eval" | tail -n 1)/grid.png (after)"
