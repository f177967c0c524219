#!/usr/bin/env bash
# Seed ensembles of recipe_ablation_loco: for each held-out corpus, the presets of one condition's seeds
# (made by recipe_ablation_adapt.sh, plain and adapted) scored together by `keras-ser evaluate`, which
# averages their clip probabilities.
#   experiments/recipe_ablation_ensemble.sh CONDITION SEEDS [ADAPT_DIR] [OUT_DIR]
# CONDITION: the run name after "seed=N," (e.g. mel_bins=40,compression=log,normalization=utterance); SEEDS: e.g. "0 1 2".
set -euo pipefail
condition=${1:?give the condition part of the run names}
seeds=${2:?give the seeds, e.g. "0 1 2"}
adapted=${3:-runs/recipe_ablation_adapt}
out=${4:-runs/recipe_ablation_ensemble}/$condition,seeds=${seeds// /-}
mkdir -p "$out"
for corpus in emodb ravdess tess nemo; do
  for kind in preset adapted; do
    [[ -f $out/$corpus.$kind.json ]] && continue
    members=()
    for seed in $seeds; do members+=("$adapted/test_corpus=$corpus,seed=$seed,$condition/$kind"); done
    keras-ser evaluate "${members[@]}" "runs/recipe_ablation_loco/test_corpus=$corpus,seed=${seeds%% *},$condition/config.toml" \
      --out "$out/$corpus.$kind.json"
  done
done
