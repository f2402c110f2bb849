#!/usr/bin/env bash
# What MAE pre-training buys on few labels, at a budget this machine carries (issue 13): four runs
# one after the other (never at once), then one markdown table with their validation top-1 and
# wall times, and the machine (lscpu).
#   1. tessera pretrain --method mae on DATA without labels
#   2. fine-tuning of the pre-trained encoder on PER_CLASS labelled images per class
#   3. the same ViT trained from scratch on the same images, same recipe and epochs
#   4. a linear probe of the pre-trained encoder on the same images
# Validation: the last VAL images of every class of DATA (`--val-split VAL`), which the labelled
# runs never see; with PRETRAIN_HOLDOUT=1 (default) pre-training leaves them out too, and its
# report shows reconstructions of them; PRETRAIN_HOLDOUT=0 pre-trains on every image of DATA.
# The labelled set is the first PER_CLASS images of every class (by name), linked into OUT/labelled
# beside the validation images.
#
#   bash bench/mae_table.sh DATA_DIR OUT_DIR
#   bash bench/mae_table.sh /tmp/cifar/train runs/mae-table                       # CIFAR-10 JPEG, 500/class
#   PRETRAIN_EPOCHS=1 FT_EPOCHS=1 LP_EPOCHS=1 PER_CLASS=20 VAL=10 \
#     bash bench/mae_table.sh examples/cifar10-sample/train /tmp/mae-try            # a quick check
#
# Needs `npm run build`. DATA_DIR is an ImageFolder (<class>/<image>).
set -euo pipefail
DATA=${1:?DATA_DIR}
OUT=${2:?OUT_DIR}
MODEL=${MODEL:-vit_tiny_cifar}
THREADS=${THREADS:-2}
PER_CLASS=${PER_CLASS:-500}
VAL=${VAL:-500}
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-20}
FT_EPOCHS=${FT_EPOCHS:-30}
LP_EPOCHS=${LP_EPOCHS:-30}
# MAE's blr 1.5e-4 assumes batch 4096 (lr 2.4e-3); at batch 256 and a few thousand steps a larger base rate
PT_BLR=${PT_BLR:-1.5e-3}
PT_BATCH=${PT_BATCH:-256}
FT_BATCH=${FT_BATCH:-128}
PRETRAIN_HOLDOUT=${PRETRAIN_HOLDOUT:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESSERA=(node "$ROOT/bin/tessera.js")
mkdir -p "$OUT"

{
  echo "date: $(date -u +%FT%TZ)"
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|L3 cache):' | sed 's/  */ /g'
  echo "threads: $THREADS, model: $MODEL, data: $DATA, labelled: $PER_CLASS per class, validation: last $VAL per class"
  echo "epochs: pre-training $PRETRAIN_EPOCHS (batch $PT_BATCH, blr $PT_BLR), fine-tuning and scratch $FT_EPOCHS, linear probe $LP_EPOCHS (batch $FT_BATCH)"
} | tee "$OUT/machine.txt"

# the labelled folder: the first PER_CLASS and the last VAL images of every class, so --val-split VAL holds out the same images as on DATA
LABELLED="$OUT/labelled"
rm -rf "$LABELLED"
for dir in "$DATA"/*/; do
  cls=$(basename "$dir")
  mkdir -p "$LABELLED/$cls"
  mapfile -t files < <(find "$dir" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' \) -printf '%f\n' | LC_ALL=C sort)
  n=${#files[@]}
  if (( n < PER_CLASS + VAL )); then echo "$cls has $n images, fewer than PER_CLASS + VAL = $((PER_CLASS + VAL))" >&2; exit 2; fi
  for f in "${files[@]:0:PER_CLASS}" "${files[@]:n-VAL:VAL}"; do ln -s "$(cd "$dir" && pwd)/$f" "$LABELLED/$cls/$f"; done
done

stamp() { date +%s.%N; }
HOLDOUT_ARGS=()
[ "$PRETRAIN_HOLDOUT" = 1 ] && HOLDOUT_ARGS=(--val-split "$VAL")
# MAE's fine-tuning recipe, shortened: AdamW lr 1e-3 at batch 128 (blr 1e-3 · 128/256 · 2), wd 0.05, label smoothing 0.1, warmup, cosine
FT_ARGS=(--model "$MODEL" --data "$LABELLED" --val-split "$VAL" --epochs "$FT_EPOCHS" --batch-size "$FT_BATCH" --optimizer adamw --lr 1e-3 --weight-decay 0.05 --warmup-epochs "$(node -e "console.log(Math.min(5, $FT_EPOCHS / 4))")" --label-smoothing 0.1 --threads "$THREADS")

t0=$(stamp)
"${TESSERA[@]}" pretrain --method mae --model "$MODEL" --data "$DATA" "${HOLDOUT_ARGS[@]}" --epochs "$PRETRAIN_EPOCHS" --batch-size "$PT_BATCH" --blr "$PT_BLR" --threads "$THREADS" --out "$OUT/pretrain" | tee "$OUT/pretrain.log"
t1=$(stamp)
"${TESSERA[@]}" train "${FT_ARGS[@]}" --pretrained "$OUT/pretrain" --layer-decay 0.75 --out "$OUT/finetune" | tee "$OUT/finetune.log"
t2=$(stamp)
"${TESSERA[@]}" train "${FT_ARGS[@]}" --out "$OUT/scratch" | tee "$OUT/scratch.log"
t3=$(stamp)
# MAE's probe uses LARS at lr 0.1 without weight decay; SGD with momentum here
"${TESSERA[@]}" train --model "$MODEL" --data "$LABELLED" --val-split "$VAL" --epochs "$LP_EPOCHS" --batch-size "$FT_BATCH" --pretrained "$OUT/pretrain" --linear-probe --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 0 --threads "$THREADS" --out "$OUT/probe" | tee "$OUT/probe.log"
t4=$(stamp)

node - "$OUT" "$t0" "$t1" "$t2" "$t3" "$t4" <<'JS'
const { readFileSync, writeFileSync } = require('node:fs');
const [out, ...t] = process.argv.slice(2);
const metrics = (run) => readFileSync(`${out}/${run}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const options = (run) => JSON.parse(readFileSync(`${out}/${run}/config.json`, 'utf8')).options;
const pct = (x) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(2)}%`);
const minutes = (i) => ((t[i + 1] - t[i]) / 60).toFixed(1);
const labelled = (run) => {
  const m = metrics(run);
  const last = m[m.length - 1];
  const best = m.reduce((b, x) => (x.valTop1 !== null && (b === null || x.valTop1 > b) ? x.valTop1 : b), null);
  return [String(options(run).epochs), pct(last.valTop1), pct(best)];
};
const pre = metrics('pretrain');
const lastPre = pre[pre.length - 1];
const rows = [
  ['MAE pre-training (no labels)', String(options('pretrain').epochs), '–', '–', `train loss ${lastPre.trainLoss.toFixed(4)}${lastPre.valMaeLoss === undefined ? '' : `, val ${lastPre.valMaeLoss.toFixed(4)}`}`, minutes(0)],
  ['fine-tuned from MAE', ...labelled('finetune'), '', minutes(1)],
  ['from scratch', ...labelled('scratch'), '', minutes(2)],
  ['linear probe of MAE', ...labelled('probe'), '', minutes(3)],
];
const header = ['| run | epochs | val top-1 (last) | val top-1 (best) | reconstruction loss | wall time (min) |', '| --- | ---: | ---: | ---: | --- | ---: |'];
const table = [...header, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const machine = readFileSync(`${out}/machine.txt`, 'utf8').trim().split('\n').map((l) => `    ${l}`).join('\n');
const text = `${table}\n\n${machine}\n`;
console.log(`\n${text}`);
writeFileSync(`${out}/table.md`, text);
JS
