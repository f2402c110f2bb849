#!/usr/bin/env bash
# airbench94 (or RECIPE=airbench96) in Tessera and in PyTorch on the same machine, data and split,
# one after the other (never at once), then one table of what each measured. Tessera runs
# `tessera train --recipe $RECIPE`; PyTorch runs bench/airbench_train.py --recipe $RECIPE (the same
# recipe written for PyTorch, float32 on the CPU, BatchNorm eps 1e-5 on both sides).
#
#   bash bench/airbench_compare.sh DATA_DIR OUT_DIR [VAL_SPLIT]
#   bash bench/airbench_compare.sh /tmp/cifar/train runs/ab45k 500    # 45,000 train, 5,000 validate
#   bash bench/airbench_compare.sh /tmp/cifar/train runs/ab50k        # all 50,000, nothing held out
#   EPOCHS=1.5 bash bench/airbench_compare.sh /tmp/small runs/try 50  # a quick check
#   RECIPE=airbench96 bash bench/airbench_compare.sh /tmp/cifar/train runs/ab96 500
#   SEED=1 bash bench/airbench_compare.sh /tmp/cifar/train runs/ab45k-s1 500   # another seed, both sides
#   TORCH_MALLOC=glibc bash bench/airbench_compare.sh ...   # PyTorch on glibc's malloc (default auto: tcmalloc
#                                                           # when installed; see bench/torch_malloc.py)
#   TESSERA_GLIBC_TUNABLES= bash bench/airbench_compare.sh ...  # Tessera without glibc.malloc.hugetlb=1 (its
#                                                               # default here, as the README recommends)
#   ORDER=torch-first bash bench/airbench_compare.sh ...  # PyTorch before Tessera (a VM's speed drifts:
#                                                         # alternate the order between runs)
#
# Wall time is the whole process for both (start-up, decoding, whitening, training, the final
# evaluation with and without TTA), measured here; PyTorch's summary.json also splits its own
# (decoding apart). Needs `npm run build` and Debian's /usr/bin/python3 with torch.
set -euo pipefail
DATA=${1:?DATA_DIR}
OUT=${2:?OUT_DIR}
SPLIT=${3:-}
THREADS=${THREADS:-2}
RECIPE=${RECIPE:-airbench94}
SEED=${SEED:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESSERA_TUNABLES=${TESSERA_GLIBC_TUNABLES-glibc.malloc.hugetlb=1}
TORCH_MALLOC=${TORCH_MALLOC:-auto}
ORDER=${ORDER:-tessera-first}
mkdir -p "$OUT"
RUN_ARGS=(--seed "$SEED")
[ -n "$SPLIT" ] && RUN_ARGS+=(--val-split "$SPLIT")
# EPOCHS=N overrides the recipe's epochs (9.9, 37) on both sides (a quick check of the script)
[ -n "${EPOCHS:-}" ] && RUN_ARGS+=(--epochs "$EPOCHS")

{
  echo "date: $(date -u +%FT%TZ)"
  lscpu | grep -E '^(Model name|CPU\(s\)):' | sed 's/  */ /g'
  echo "simd: $(grep -o -w -E 'avx2|avx512f|avx512bw|avx512_vnni|avx512_bf16|amx_tile|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "recipe: $RECIPE, threads: $THREADS, seed: $SEED, data: $DATA, val split: ${SPLIT:-none}"
  echo "Tessera GLIBC_TUNABLES: $TESSERA_TUNABLES; PyTorch malloc: $TORCH_MALLOC; order: $ORDER"
} | tee "$OUT/machine.txt"

stamp() { date +%s.%N; }

run_tessera() {
  ts0=$(stamp)
  GLIBC_TUNABLES=$TESSERA_TUNABLES node "$ROOT/bin/tessera.js" train --recipe "$RECIPE" --data "$DATA" "${RUN_ARGS[@]}" --threads "$THREADS" --out "$OUT/tessera" | tee "$OUT/tessera.log"
  ts1=$(stamp)
}
run_torch() {
  tp0=$(stamp)
  /usr/bin/python3 "$ROOT/bench/airbench_train.py" --recipe "$RECIPE" --data "$DATA" "${RUN_ARGS[@]}" --threads "$THREADS" --malloc "$TORCH_MALLOC" --out "$OUT/torch" | tee "$OUT/torch.log"
  tp1=$(stamp)
}
case "$ORDER" in
  tessera-first) run_tessera; run_torch ;;
  torch-first) run_torch; run_tessera ;;
  *) echo "ORDER must be tessera-first or torch-first, got $ORDER" >&2; exit 2 ;;
esac

node - "$OUT" "$ts0" "$ts1" "$tp0" "$tp1" <<'EOF'
const { readFileSync, writeFileSync } = require('node:fs');
const [out, ts0, ts1, tp0, tp1] = process.argv.slice(2);
const lines = readFileSync(`${out}/tessera/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const last = lines[lines.length - 1];
const config = JSON.parse(readFileSync(`${out}/tessera/config.json`, 'utf8'));
const torch = JSON.parse(readFileSync(`${out}/torch/summary.json`, 'utf8'));
const per = config.batchesPerEpoch;
const steps = Math.ceil(per * config.options.epochs);
// each epoch's training images over its images/s (validation and checkpoints apart)
const trainSeconds = lines.reduce((s, m, e) => s + (Math.min(per, steps - e * per) * config.options.batchSize) / m.imagesPerSecond, 0);
const pct = (x) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(2)}%`);
const rows = [
  ['Tessera', pct(last.valTop1), pct(last.valTtaTop1), (ts1 - ts0).toFixed(0), (steps * config.options.batchSize / trainSeconds).toFixed(1)],
  ['PyTorch', pct(torch.valTop1), pct(torch.valTop1Tta), (tp1 - tp0).toFixed(0), torch.imagesPerSecond.toFixed(1)],
];
const table = ['| engine | val top-1 | val top-1 (TTA) | wall time (s) | train images/s |', '| --- | ---: | ---: | ---: | ---: |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
console.log(`\n${table}\n\nTessera: ${steps} steps; PyTorch: ${torch.steps} steps, malloc ${torch.malloc}, its own split (s): ${JSON.stringify(torch.seconds)}`);
writeFileSync(`${out}/table.md`, `${table}\n`);
EOF
