#!/usr/bin/env bash
# Zoo v2 on the GPU machine (zoo issue, items 1, 2 and 6), as one device call:
#  1. RH-emo with the thesis's 4096-unit heads on the training speakers of RAVDESS, EmoDB, TESS and nEMO (the
#     zoo's split; the recipe's front end: log magnitudes normalised per utterance), each stage bounded by
#     STAGE_MINUTES (default 2) of wall-clock time; then its preset, which scores the emotion and the
#     valence / arousal / dominance heads on the test speakers;
#  2. quaternion VGG16 and ResNet-50 on its embeddings (experiments/zoo_v2_rhemo_quaternion.toml, each training
#     bounded by CLASSIFIER_MINUTES, default 1.5, of wall-clock time: training.minutes), each made a
#     float16 preset without RH-emo's valence / arousal / dominance heads (4096 units wide they are 200 MB, over
#     the zoo's 120 MB for all weights). AlexNet, the third, would not fit in what comes back: train it on the
#     CPU from the returned encoder (keras-ser experiment zoo_v2_rhemo_quaternion --only '^builder=alexnet$').
#
# Prepare on the CPU, from the repository root:
#   ../shared/device/fetch-wheels.sh                                       # .whl/, 4.7 MB
#   python experiments/zoo_v2_gpu/pack_corpora.py device_data --jobs 2     # 45 MiB of Opus; 35 min on 1 core
# A call carries at most 64 MiB of working tree: the zoo's tracked weights (76 MB) would take it over, so leave
# them out of the working tree for the call (rm zoo/*/model.weights.h5; after it: git checkout -- zoo). The
# rest is then about 57 MiB (tracked files 7.8 MB, device_data 47 MB, .whl 4.9 MB).
# Run with the device tool (timeout_s=600), carry=[".whl", "device_data"]; what fits in one call (a machine's
# start and the transfers take some of its 15 minutes):
#   PYTHONUNBUFFERED=1 STAGE_MINUTES=1.5 CLASSIFIER_MINUTES=1 bash experiments/zoo_v2_gpu/run.sh
# A second call on a still-warm machine resumes after the last finished step (a machine stays warm 30 s after a
# call). Rehearsed end to end on a CPU (2026-12-04), in a venv with JAX and no TensorFlow, the pip line replaced
# by PYTHONPATH=$PWD, with RHEMO_OPTIONS="--max-items 40 --head-units 64", EXPERIMENT=<a copy of the experiment
# with data.max_items = 200 and 3 epochs>, STAGE_MINUTES=CLASSIFIER_MINUTES=0.3: every step ran and returned its
# files. No GPU run yet (the first lent session found new loans paused).
# Back under $OUT, written as each step ends (so a call cut short still returns the steps it finished):
#   run.log                    everything the call printed
#   rhemo.tar                  encoder.keras, metrics, history, split; the RH-emo preset's card and metadata (its
#                              heads' scores; not its weights: 4096-unit heads are 270 MB in float16)
#   rhemo-q<network>.tar.part-*  the preset folder, in parts of 15 MB
# Join and unpack here with: cat rhemo-qvgg16.tar.part-* | tar -xf - -C runs/zoo_v2
# The presets' scores from this call are on the Opus copies: measure them again from the original audio.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax || exit
export KERAS_SER_DATA=${KERAS_SER_DATA:-$PWD/device_data}
OUT=${OUT:?set OUT to the folder whose files come back}
exec > >(tee "$OUT/run.log") 2>&1
RUNS=${RUNS:-runs}
STAGE_MINUTES=${STAGE_MINUTES:-2}
CLASSIFIER_MINUTES=${CLASSIFIER_MINUTES:-1.5}
ZOO=$RUNS/zoo_v2
keras_ser() { python3 -c 'import sys; from keras_ser.cli import main; sys.exit(main(sys.argv[1:]))' "$@"; }
started=$SECONDS
log() { echo "[$((SECONDS - started)) s] $*"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true

if [ ! -f "$ZOO/rhemo/encoder.keras" ]; then
  log "RH-emo"
  keras_ser rhemo ravdess emodb tess nemo --run-dir "$ZOO/rhemo" --head-units 4096 --fractions 0.6 0.2 0.2 \
    --compression log --normalization utterance --stage1-epochs 500 --stage1-minutes "$STAGE_MINUTES" \
    --stage2-epochs 500 --stage2-lr 1e-5 --stage2-minutes "$STAGE_MINUTES" ${RHEMO_OPTIONS:-} || exit
fi
if [ ! -f "$ZOO/rhemo-preset/metadata.json" ]; then
  log "RH-emo preset and its heads' scores"
  keras_ser preset "$ZOO/rhemo" "$ZOO/rhemo-preset" --overwrite || exit
fi
tar -cf "$OUT/rhemo.tar" -C "$ZOO" rhemo/encoder.keras rhemo/metrics.json rhemo/history.json rhemo/split.json \
  rhemo-preset/metadata.json rhemo-preset/README.md

# The experiment with its trainings' time budget; its name inside, and so its runs' folders, unchanged.
experiment=$RUNS/zoo_v2_rhemo_quaternion_gpu.toml
sed "s/^training = { /training = { minutes = $CLASSIFIER_MINUTES, /" \
  "${EXPERIMENT:-experiments/zoo_v2_rhemo_quaternion.toml}" > "$experiment"
for network in vgg16 resnet50; do
  log "quaternion $network"
  keras_ser experiment "$experiment" --runs-dir "$RUNS" --only "^builder=$network\$" || exit
  preset=$ZOO/rhemo-q$network
  if [ ! -f "$preset/metadata.json" ]; then
    keras_ser preset "$RUNS/zoo_v2_rhemo_quaternion/builder=$network" "$preset" --name "rhemo-q$network" \
      --recipe experiments/zoo_v2_rhemo_quaternion.toml --no-dimension-heads --overwrite || exit
  fi
  tar -cf - -C "$ZOO" "rhemo-q$network" | split -b 15M - "$OUT/rhemo-q$network.tar.part-"
done
log "done"
