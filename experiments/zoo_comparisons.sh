#!/usr/bin/env bash
# The comparison tables of the zoo's cards. logmel-cnn-x3: the preset measured from the audio on the zoo
# split's test speakers, plainly and adapted without labels to each corpus (AdaBN on every file of the
# corpus), beside eGeMAPS and rhemo-qvgg16 on the same speakers; and its recipe's leave-one-corpus-out
# figures beside eGeMAPS's. The RH-emo presets: measured again from today's full-length audio, beside
# eGeMAPS and logmel-cnn-x3. Needs the runs of zoo_split_4corpora, loco_4class, recipe_ablation_loco
# (recipe_ablation_adapt.sh, recipe_ablation_ensemble.sh) and runs/zoo_eval/<preset>.json for each RH-emo
# preset (runs/zoo_eval.sh: keras-ser evaluate <preset> <a zoo_split_4corpora config> --out ...).
#   experiments/zoo_comparisons.sh [OUT_DIR]
set -euo pipefail
preset=zoo/logmel-cnn-x3
out=${1:-runs/zoo/logmel-cnn-x3}
split=runs/zoo_split_4corpora
loco=runs/loco_4class
ensemble="runs/recipe_ablation_ensemble/mel_bins=40,compression=log,normalization=utterance_global,epochs=20,patience=6,reduce_lr_patience=2,reduce_lr_factor=0.3,pooling=audio_statistics,ema_epochs=2,seeds=0-1-2"
config=$out/seed0/config.toml
[[ -f $out/plain.json ]] || keras-ser evaluate "$preset" "$config" --out "$out/plain.json"
"$(dirname "$0")/adapt_each_corpus.sh" "$preset" "$config" "$out"
adapted=() loco_plain=() loco_adapted=() loco_global=() loco_corpus=()
for corpus in emodb ravdess tess nemo; do
  adapted+=("$out/adapted.$corpus.json")
  loco_plain+=("$ensemble/$corpus.preset.json")
  loco_adapted+=("$ensemble/$corpus.adapted.json")
  loco_global+=("$loco/test_corpus=$corpus,builder=egemaps,standardization=global/metrics.json")
  loco_corpus+=("$loco/test_corpus=$corpus,builder=egemaps,standardization=corpus/metrics.json")
done
join() { local IFS=,; echo "$*"; }
keras-ser compare "$preset" --title "Test speakers of the zoo split, beside the eGeMAPS baseline" \
  --note "The test speakers of the card's split (RAVDESS, EmoDB, TESS, nEMO), measured from the audio. Adapted: \`model.adapt(<every file of the corpus>, batch_norm=True)\` before scoring that corpus, no labels, the counterpart of standardising eGeMAPS per corpus. eGeMAPS: openSMILE's 88 eGeMAPSv02 functionals with a class-balanced linear SVM, trained on the same training speakers (RESULTS.md (0a)). rhemo-qvgg16 was trained without nEMO." \
  --row "logmel-cnn-x3=$out/plain.json" \
  --row "logmel-cnn-x3, adapted to each corpus=$(join "${adapted[@]}")" \
  --row "eGeMAPS + linear SVM, training speakers' standardisation=$split/builder=egemaps,standardization=global/metrics.json" \
  --row "eGeMAPS + linear SVM, each corpus standardised by its own statistics=$split/builder=egemaps,standardization=corpus/metrics.json" \
  --row "rhemo-qvgg16=runs/zoo_eval/rhemo-qvgg16.json"
keras-ser compare "$preset" --title "Its recipe, leave one corpus out" \
  --note "The same recipe trained four times, each time on the training speakers of three corpora (seeds 0-2, averaged as here), and tested on every four-class file of the fourth, which it never saw (RESULTS.md (0d))." \
  --row "this recipe, 3-seed ensemble=$(join "${loco_plain[@]}")" \
  --row "this recipe, 3-seed ensemble, adapted to the held-out corpus=$(join "${loco_adapted[@]}")" \
  --row "eGeMAPS + linear SVM, training corpora's standardisation=$(join "${loco_global[@]}")" \
  --row "eGeMAPS + linear SVM, held-out corpus standardised by its own statistics=$(join "${loco_corpus[@]}")"
for preset in rhemo rhemo-qalexnet rhemo-qresnet50 rhemo-qvgg16; do
  keras-ser compare "zoo/$preset" --title "Test speakers of the zoo split, beside the eGeMAPS baseline" \
    --note "The Results above were measured on the earlier EmoDB copy cut to 2 s; these rows score the same test speakers from today's full-length files (RESULTS.md (0a)). nEMO is a corpus $preset never saw; eGeMAPS and logmel-cnn-x3 were trained on its training speakers." \
    --row "$preset, full-length audio=runs/zoo_eval/$preset.json" \
    --row "eGeMAPS + linear SVM, training speakers' standardisation=$split/builder=egemaps,standardization=global/metrics.json" \
    --row "eGeMAPS + linear SVM, each corpus standardised by its own statistics=$split/builder=egemaps,standardization=corpus/metrics.json" \
    --row "logmel-cnn-x3 (the default)=$out/plain.json"
done
