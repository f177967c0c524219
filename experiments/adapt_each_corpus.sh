#!/usr/bin/env bash
# A preset adapted without labels to each corpus in turn (AdaBN on every audio file of the corpus; the
# input normaliser too unless CONFIG normalises per utterance) and scored on that corpus's test speakers
# of CONFIG's split (the per-corpus split is made corpus by corpus, so a one-corpus copy of CONFIG gives
# the same part). Writes OUT/<corpus>.toml, OUT/adapted.<corpus>/ and OUT/adapted.<corpus>.json, and skips
# corpora already scored. Used by zoo_split_adapt.sh and zoo_comparisons.sh.
#   experiments/adapt_each_corpus.sh PRESET CONFIG OUT
set -euo pipefail
preset=${1:?give a preset}
config=${2:?give the run configuration whose split is scored}
out=${3:?give the output folder}
data=${KERAS_SER_DATA:-../shared/datasets}
mkdir -p "$out"
for corpus in emodb ravdess tess nemo; do
  sed "s/^corpora = .*/corpora = [\"$corpus\"]/" "$config" > "$out/$corpus.toml"
  [[ -f $out/adapted.$corpus.json ]] && continue
  keras-ser adapt "$preset" "$data/$corpus" --batch-norm --full-precision --overwrite \
    --out "$out/adapted.$corpus"
  keras-ser evaluate "$out/adapted.$corpus" "$out/$corpus.toml" --out "$out/adapted.$corpus.json"
done
