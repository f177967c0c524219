#!/usr/bin/env bash
# In-domain `adapt` and seed-ensemble rows of zoo_split_4corpora: each finished run whose name matches
# PATTERN becomes a preset, scored from the audio on its test speakers; then, corpus by corpus, it is
# adapted without labels on every audio file of that corpus (AdaBN; the normaliser too where it has
# statistics), the counterpart of eGeMAPS's per-corpus standardisation, and scored on that corpus's
# test speakers (the split is made corpus by corpus, so a one-corpus configuration gives the same part).
# With ENSEMBLE_NAME, the matching runs' presets (e.g. PATTERN 'normalization=utterance(,seed=[12])?$' for the
# front end's three seeds) are also scored together as an ensemble, plain and adapted, into OUT_DIR/ensemble=NAME.
#   experiments/zoo_split_adapt.sh PATTERN [ENSEMBLE_NAME] [RUNS_DIR] [OUT_DIR]
set -euo pipefail
pattern=${1:?give a pattern of run names}
ensemble=${2:-}
runs=${3:-runs/zoo_split_4corpora}
out=${4:-runs/zoo_split_adapt}
corpora=(emodb ravdess tess nemo)
members=()
for run in "$runs"/*/; do
  name=$(basename "$run")
  [[ $name =~ $pattern && -f $run/metrics.json ]] || continue
  members+=("$out/$name")
  mkdir -p "$out/$name"
  [[ -d $out/$name/preset ]] || keras-ser preset "$run" "$out/$name/preset" --full-precision --overwrite
  [[ -f $out/$name/plain.json ]] || keras-ser evaluate "$out/$name/preset" "$run/config.toml" --out "$out/$name/plain.json"
  "$(dirname "$0")/adapt_each_corpus.sh" "$out/$name/preset" "$run/config.toml" "$out/$name"
done
[[ -n $ensemble && ${#members[@]} -gt 1 ]] || exit 0
target=$out/ensemble=$ensemble
mkdir -p "$target"
first=$runs/$(basename "${members[0]}")/config.toml
[[ -f $target/plain.json ]] || keras-ser evaluate "${members[@]/%//preset}" "$first" --out "$target/plain.json"
for corpus in "${corpora[@]}"; do
  [[ -f $target/adapted.$corpus.json ]] && continue
  keras-ser evaluate "${members[@]/%//adapted.$corpus}" "${members[0]}/$corpus.toml" --out "$target/adapted.$corpus.json"
done
