#!/usr/bin/env bash
# The main job on the embedded default (ShapeWorld): set up, pretrain the base model if it
# is not there, evaluate it on the held-out prompts and write a sample grid.
# Output: runs/main/ (eval.json, eval_grid.png, samples.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh

BASE=models/shapeworld_base.safetensors
OUT=runs/main
mkdir -p "$OUT"
if [ ! -f "$BASE" ]; then
  echo "== no base model at $BASE: pretraining it (about 15 minutes on 2 cores)"
  build/bin/maskgrpo pretrain --config configs/pretrain.textproto --out runs/pretrain
  mkdir -p models
  cp runs/pretrain/model.safetensors "$BASE"
fi
echo "== held-out GenEval-style evaluation of $BASE"
build/bin/maskgrpo eval --config configs/eval.textproto --checkpoint "$BASE" --out "$OUT"
echo "== sample grid"
build/bin/maskgrpo generate --checkpoint "$BASE" --out "$OUT/samples.png"
echo "== done: $OUT/eval.json, $OUT/eval_grid.png, $OUT/samples.png"
