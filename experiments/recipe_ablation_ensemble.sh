#!/usr/bin/env bash
# Seed ensembles of recipe_ablation_loco: for each held-out corpus, the presets of one condition's seeds
# (made by recipe_ablation_adapt.sh, plain and adapted) scored together by `keras-ser evaluate`, which
# averages their clip probabilities. Several conditions (separated by spaces) pool their seeds' presets into
# one ensemble (their front ends must agree; the first condition's configuration names the test clips).
#   experiments/recipe_ablation_ensemble.sh CONDITIONS SEEDS [ADAPT_DIR] [OUT_DIR]
# CONDITIONS: the run name after "seed=N," (e.g. mel_bins=40,compression=log,normalization=utterance); SEEDS: e.g. "0 1 2".
set -euo pipefail
conditions=${1:?give the condition part of the run names}
seeds=${2:?give the seeds, e.g. "0 1 2"}
adapted=${3:-runs/recipe_ablation_adapt}
out=${4:-runs/recipe_ablation_ensemble}/${conditions// /+},seeds=${seeds// /-}
read -r -a condition_list <<< "$conditions"
mkdir -p "$out"
for corpus in emodb ravdess tess nemo; do
  for kind in preset adapted; do
    [[ -f $out/$corpus.$kind.json ]] && continue
    members=()
    for condition in "${condition_list[@]}"; do
      for seed in $seeds; do members+=("$adapted/test_corpus=$corpus,seed=$seed,$condition/$kind"); done
    done
    keras-ser evaluate "${members[@]}" \
      "runs/recipe_ablation_loco/test_corpus=$corpus,seed=${seeds%% *},${condition_list[0]}/config.toml" \
      --out "$out/$corpus.$kind.json"
  done
done
