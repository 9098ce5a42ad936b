#!/usr/bin/env bash
# Fit in the container: grade solutions/ experiments with the Docker image at Gradescope's limits and report the
# sandbox's peak memory, the container's peak memory (cgroup v1 high-water mark, page cache included) and the
# times. Figures for packaging/RESULTS.md; a measurement, not a test.
#
#   bash packaging/bench_fit.sh IMAGE CPUS EXPERIMENT...     e.g. dermamnist-grader:check 0.5 exp_01_baseline
#
# The box: DERMA_FIT_MEMORY (docker's --memory, default 768m) and the sandbox's limits, DERMA_MEMORY_LIMIT_MB and
# DERMA_TIME_LIMIT_S (default: the image's). DERMA_FIT_EPOCHS=N trains N epochs instead of the experiment's own
# (the peak and the time of an epoch, for runs too long to finish here; the table says so). DERMA_FIT_CHILD=FILE
# grades with that grader/child.py instead of the image's, to measure a change side by side (the table names it).
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
echo "| experiment | --cpus | --memory | sandbox peak MB | container peak MB | gave memory back | epochs | training s | sandbox s | grader s | docker run s | outcome |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for exp in "$@"; do
  tag="$exp-cpus$CPUS-${DERMA_FIT_MEMORY:-768m}${DERMA_FIT_CHILD:+-$(basename "$DERMA_FIT_CHILD")}"
  SUB="$WORK/sub/$tag"; OUT="$WORK/results/$tag"
  rm -rf "$SUB" "$OUT"; mkdir -p "$SUB" "$OUT"
  cp "$REPO/solutions/$exp/model.py" "$REPO/solutions/$exp/train_config.py" "$SUB/"
  note=""
  if [ -n "${DERMA_FIT_EPOCHS:-}" ]; then
    sed -i "s/^EPOCHS = .*/EPOCHS = $DERMA_FIT_EPOCHS/" "$SUB/train_config.py"
    note=" ($DERMA_FIT_EPOCHS epochs of $(grep -m1 -o '^EPOCHS = [0-9]*' "$REPO/solutions/$exp/train_config.py" | cut -d' ' -f3))"
  fi
  if grep -q "weights=ResNet18_Weights" "$SUB/model.py"; then
    sed -i 's/weights=ResNet18_Weights\.[A-Z0-9_]*/weights=None/' "$SUB/model.py"
    note="$note (random weights: timing only)"
  fi
  t=$SECONDS
  limits=()
  [ -z "${DERMA_FIT_CHILD:-}" ] || { limits+=(-v "$(realpath "$DERMA_FIT_CHILD")":"$(docker image inspect -f "{{.Config.WorkingDir}}" "$IMAGE")/grader/child.py:ro")
                                     note="$note (child: $(basename "$DERMA_FIT_CHILD"))"; }
  for v in DERMA_MEMORY_LIMIT_MB DERMA_TIME_LIMIT_S; do [ -z "${!v:-}" ] || limits+=(-e "$v=${!v}"); done
  docker run --rm --cpus="$CPUS" --memory="${DERMA_FIT_MEMORY:-768m}" --network none -e DERMA_SYNTHETIC= "${limits[@]}" \
    -e DERMA_DATA_DIR=/data -v "$DATA":/data -v "$SUB":/submission:ro -v "$OUT":/results "$IMAGE" bash -c \
    'bash packaging/docker_grade.sh; echo "cgroup_peak_mb $(( $(cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes) / 1048576 ))"' \
    >"$OUT/log.txt" 2>&1 || true
  wall=$((SECONDS - t))
  python3 - "$OUT" "$exp$note" "$CPUS" "$wall" "${DERMA_FIT_MEMORY:-768m}" <<'EOF'
import json, pathlib, re, sys
out, name, cpus, wall, memory = sys.argv[1:6]
try:
    r = json.load(open(f"{out}/grading_record.json"))
except (OSError, ValueError):
    last = (open(f"{out}/log.txt", errors="replace").read().strip().splitlines() or ["(no output)"])[-1]
    print(f"| {name} | {cpus} | {memory} | no grading record: {last[:200]} |")
    sys.exit(0)
box = r["sandbox"]
peak = re.search(r"cgroup_peak_mb (\d+)", open(f"{out}/log.txt").read())
failed = [t["name"] for t in r["tests"] if t["status"] == "failed" and t["key"] in ("builds", "trains")]
switched = any("freed memory now goes back" in p.read_text(errors="replace") for p in pathlib.Path(out).glob("*")
               if p.is_file())
print(f"| {name} | {cpus} | {memory} | {box['peak_rss_mb']:.0f} | {peak.group(1) if peak else '?'} | "
      f"{'yes' if switched else 'no'} | {len(r.get('history') or [])} | "
      f"{r.get('train_seconds') or 0:.0f} | {box['seconds']:.0f} | {r['seconds']:.0f} | {wall} | "
      f"{'killed: ' + ', '.join(failed) if failed else 'finished'} |")
EOF
done
