#!/usr/bin/env bash
# The `adapt` rows of recipe_ablation_loco: each finished run whose name matches PATTERN becomes a
# preset, is adapted without labels on every audio file of its held-out corpus (the normaliser where
# it has statistics, and batch norm: AdaBN), and both presets are evaluated from the audio on the
# held-out corpus's four-class files.
#   experiments/recipe_ablation_adapt.sh PATTERN [RUNS_DIR] [OUT_DIR]
set -euo pipefail
pattern=${1:?give a pattern of run names, e.g. 'crops=fixed$'}
runs=${2:-runs/recipe_ablation_loco}
out=${3:-runs/recipe_ablation_adapt}
data=${KERAS_SER_DATA:-../shared/datasets}
for run in "$runs"/*/; do
  name=$(basename "$run")
  [[ $name =~ $pattern && -f $run/metrics.json ]] || continue
  corpus=${name#test_corpus=}
  corpus=${corpus%%,*}
  mkdir -p "$out/$name"
  [[ -f $out/$name/adapted.json ]] && continue
  keras-ser preset "$run" "$out/$name/preset" --full-precision --overwrite
  keras-ser evaluate "$out/$name/preset" "$run/config.toml" --out "$out/$name/plain.json"
  keras-ser adapt "$out/$name/preset" "$data/$corpus" --batch-norm --full-precision --overwrite \
    --out "$out/$name/adapted"
  keras-ser evaluate "$out/$name/adapted" "$run/config.toml" --out "$out/$name/adapted.json"
done
