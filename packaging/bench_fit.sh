#!/usr/bin/env bash
# Fit in the container: grade solutions/ experiments with the Docker image at Gradescope's limits and report the
# sandbox's peak memory, the container's peak memory (cgroup v1 high-water mark, page cache included) and the
# times. Figures for packaging/RESULTS.md; a measurement, not a test.
#
#   bash packaging/bench_fit.sh IMAGE CPUS EXPERIMENT...     e.g. dermamnist-grader:check 0.5 exp_01_baseline
#
# Data: the synthetic stand-in at the official split sizes, written once on the host as a medmnist-format
# dermamnist.npz and mounted where the image keeps the real one, so the grader reads it as it reads DermaMNIST
# (graded as "unofficial"): the time and memory of a grading do not depend on the pixel values. (Generating the
# stand-in inside the grader at scale 1 costs the grader's own process about 1.1 GB: not what a real grading does.) An experiment that asks for ImageNet weights gets weights=None
# (random initialisation: its times and memory are the real ones, its scores mean nothing) and is marked so.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="$1"; CPUS="$2"; shift 2
WORK="${DERMA_CHECK_DIR:-/var/tmp/dermamnist-check}/fit"
DATA="$WORK/data"
if [ ! -f "$DATA/dermamnist.npz" ]; then
  mkdir -p "$DATA"
  (cd "$REPO" && python3 -c 'import shutil, sys; from pathlib import Path; from locked import synthetic
shutil.copyfile(synthetic.write(Path(sys.argv[1]) / "gen", scale=1), Path(sys.argv[1]) / "dermamnist.npz")' "$DATA")
  rm -rf "$DATA/gen"; chmod 600 "$DATA/dermamnist.npz"
fi
for exp in "$@"; do
  SUB="$WORK/sub/$exp"; OUT="$WORK/results/$exp-cpus$CPUS"
  rm -rf "$SUB" "$OUT"; mkdir -p "$SUB" "$OUT"
  cp "$REPO/solutions/$exp/model.py" "$REPO/solutions/$exp/train_config.py" "$SUB/"
  note=""
  if grep -q "weights=ResNet18_Weights" "$SUB/model.py"; then
    sed -i 's/weights=ResNet18_Weights\.[A-Z0-9_]*/weights=None/' "$SUB/model.py"
    note=" (random weights: timing only)"
  fi
  t=$SECONDS
  docker run --rm --cpus="$CPUS" --memory=768m --network none -e DERMA_SYNTHETIC= \
    -e DERMA_DATA_DIR=/data -v "$DATA":/data -v "$SUB":/submission:ro -v "$OUT":/results "$IMAGE" bash -c \
    'bash packaging/docker_grade.sh; echo "cgroup_peak_mb $(( $(cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes) / 1048576 ))"' \
    >"$OUT/log.txt" 2>&1 || true
  wall=$((SECONDS - t))
  python3 - "$OUT" "$exp$note" "$CPUS" "$wall" <<'EOF'
import json, re, sys
out, name, cpus, wall = sys.argv[1:5]
r = json.load(open(f"{out}/grading_record.json"))
box = r["sandbox"]
peak = re.search(r"cgroup_peak_mb (\d+)", open(f"{out}/log.txt").read())
failed = [t["name"] for t in r["tests"] if t["status"] == "failed" and t["key"] in ("builds", "trains")]
print(f"| {name} | {cpus} | {box['peak_rss_mb']:.0f} | {peak.group(1) if peak else '?'} | "
      f"{box.get('child_reported_train_seconds') or 0:.0f} | {box['seconds']:.0f} | {r['seconds']:.0f} | {wall} | "
      f"{'killed: ' + ', '.join(failed) if failed else 'finished'} |")
EOF
done
