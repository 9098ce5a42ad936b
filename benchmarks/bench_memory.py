"""Peak memory (RSS) of a full-size synthetic training run, and what the imports alone cost.

    python benchmarks/bench_memory.py            # experiment 21 for its full 15 epochs
    python benchmarks/bench_memory.py --quick    # the same run cut to 2 epochs (the peak comes in epoch 1)

Every figure is a fresh child process: `python -m locked.train --synthetic --submission
solutions/exp_21_best_custom_cnn` (BestCustomCNN, 102,407 params, batch 64, HFlip+VFlip+Rotation(20)+ColorJitter,
class-weighted CE, Adam + CosineAnnealingLR) and, for comparison, children that only import things. The peak is the
kernel's own high-water mark for that child (os.wait4's ru_maxrss); RSS is also sampled from /proc/<pid>/status
while the run prints, to show which phase the memory belongs to. Every child also runs a second time ending in
os._exit(), which skips the C++ libraries' static destructors: on the CUDA build of torch they add ~120 MB at exit.
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXP21 = ROOT / "solutions" / "exp_21_best_custom_cnn"
TARGET_MB = 600
IMPORTS = [
    ("python, nothing imported", "pass"),
    ("import numpy", "import numpy"),
    ("import torch", "import torch"),
    ("import torch, torchvision", "import torch, torchvision"),
    ("import locked.train (all the run imports)", "import locked.train"),
]
FAST_EXIT = "\nimport os, sys; sys.stdout.flush(); sys.stderr.flush(); os._exit(0)"
RUN_THEN_FAST_EXIT = """import os, runpy, sys
try:
    runpy.run_module("locked.train", run_name="__main__")
except SystemExit as done:
    sys.stdout.flush(); sys.stderr.flush(); os._exit(done.code or 0)
"""
PHASES = [  # (label, regex on the run's output): RSS is sampled when the first matching line appears
    ("data loaded (imports + npz)", r"^\*\*\* Data: "),
    ("model built", r"^Model: "),
    ("after epoch 1", r"^epoch\s+1/"),
    ("after the last epoch", None),  # filled in from the epoch count
    ("validation report printed", r"^Validation report"),
]


def _rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def measure(cmd, phases=(), env=None):
    """Run `cmd`; return (peak MB from wait4, {phase: RSS MB when its line appeared}, seconds, output)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, lines = {}, []

    def read():
        for line in proc.stdout:
            lines.append(line)
            for label, pattern in phases:
                if label not in seen and pattern and re.search(pattern, line):
                    seen[label] = _rss_mb(proc.pid)

    reader = threading.Thread(target=read)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)  # ru_maxrss of exactly this child, in KiB on Linux
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    output = "".join(lines)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-3000:]}")
    return usage.ru_maxrss / 1024, seen, time.perf_counter() - t0, output


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="train 2 epochs instead of 15")
    ap.add_argument("--json", help="also write the raw figures to this file")
    args = ap.parse_args(argv)

    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # This process never imports torch: a child's ru_maxrss starts from its parent's RSS at fork/exec.
    # The synthetic npz is written once per machine; do that in a child of its own, not in the measured run.
    warm = ("from locked import data; import torch, json; data.load(synthetic_data=True); "
            "print(json.dumps([torch.__version__, torch.version.cuda]))")
    versions = subprocess.run([sys.executable, "-c", warm], cwd=ROOT, env=env, check=True, capture_output=True,
                              text=True).stdout.strip().splitlines()[-1]
    torch_version, cuda = json.loads(versions)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, torch {torch_version} "
          f"(CUDA build: {cuda or 'no'}); target peak RSS < {TARGET_MB} MB\n")

    # Each child twice: a normal exit, and os._exit() after flushing, which skips the C++ static destructors.
    # (On the CUDA build of torch those destructors touch ~120 MB of library memory on the way out.)
    rows = []
    print(f"{'child process':<48}{'peak RSS, normal exit':>22}{'with os._exit':>15}")
    for label, code in IMPORTS:
        peaks = [measure([sys.executable, "-c", code + ending], env=env)[0] for ending in ("", FAST_EXIT)]
        rows.append({"what": label, "peak_mb": peaks[0], "peak_mb_os_exit": peaks[1]})
        print(f"  {label:<46}{peaks[0]:>19.0f} MB{peaks[1]:>12.0f} MB")

    with tempfile.TemporaryDirectory() as tmp:
        folder = EXP21
        epochs = 15
        if args.quick:
            epochs = 2
            folder = Path(tmp) / "exp21"
            shutil.copytree(EXP21, folder)
            config = folder / "train_config.py"
            config.write_text(re.sub(r"^EPOCHS = \d+", f"EPOCHS = {epochs}", config.read_text(), flags=re.M))
        phases = [(label, pattern if label != "after the last epoch" else rf"^epoch\s+{epochs}/")
                  for label, pattern in PHASES]
        train_args = ["--synthetic", "--submission", str(folder), "--out", str(Path(tmp) / "run.json")]
        peak, seen, seconds, _ = measure([sys.executable, "-m", "locked.train", *train_args], phases, env=env)
        record = json.loads((Path(tmp) / "run.json").read_text())
        peak_fast, _, _, _ = measure([sys.executable, "-c", RUN_THEN_FAST_EXIT, *train_args], env=env)
    label = f"python -m locked.train, exp 21, {epochs} epochs"
    rows.append({"what": label, "peak_mb": peak, "peak_mb_os_exit": peak_fast, "phases_mb": seen,
                 "seconds": seconds, "train_seconds": record["train_seconds"], "threads": record["machine"]["threads"]})
    print(f"  {label:<46}{peak:>19.0f} MB{peak_fast:>12.0f} MB   ({seconds:.0f}s wall)")
    for phase, _ in phases:
        if seen.get(phase) is not None:
            print(f"      RSS when {phase:<36}{seen[phase]:>5.0f} MB")
    imports = next(r for r in rows if r["what"].startswith("import locked.train"))
    print(f"\npeak {peak:.0f} MB ({peak_fast:.0f} MB with os._exit) against a target of {TARGET_MB} MB; the imports "
          f"alone peak at {imports['peak_mb']:.0f} MB ({imports['peak_mb_os_exit']:.0f} MB), so training adds "
          f"{peak - imports['peak_mb']:.0f} MB ({peak_fast - imports['peak_mb_os_exit']:.0f} MB).")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu, "torch": torch_version, "cuda_build": cuda,
                                               "rows": rows, "target_mb": TARGET_MB}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
