"""Run grader/sandbox.py's Sandbox on small hostile children, inside the check VM (packaging/check_vm.sh).

    python3 cases.py SANDBOX_PY HOST_LABEL

Loads the sandbox module from its file (grader/__init__ and the rubric import nothing heavy, but the point is to
test this one file) and prints one line per case, "DERMA-VM|host|case|verdict|peak MB|child got to|held by", for
the host to collect from the serial console. No torch: under TCG it does not even import. Each child is the
attack of an instructor_tests/grader_submissions/ case (memory_blowup, shm_hog, background_processes, neighbour,
look_around) without the model around it.
"""
import importlib.util
import os
import re
import sys
import threading
import time
import types

LIMIT_MB = 256
LIMITS = types.SimpleNamespace(time_limit_s=90, memory_limit_mb=LIMIT_MB, output_limit_kb=64, threads=1,
                               sandbox_uids=(61000, 61999), scratch_mb=1024, max_file_mb=1024, max_processes=64,
                               device="cpu")

CASES = {
    "baseline": """
b = bytearray(50 << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
print("holding 50 MB", flush=True)
import time
time.sleep(1)  # long enough for the grader's 0.1 s polls to see it
""",
    "memory bomb": """
chunks = []
for n in range(1, 25):
    b = bytearray(50 << 20)
    for i in range(0, len(b), 4096):
        b[i] = 1
    chunks.append(b)
    print("holding", 50 * n, "MB", flush=True)
""",
    "/dev/shm hog": """
for n in range(1, 25):
    with open(f"/dev/shm/hog{n}", "wb") as f:
        f.write(b"x" * (50 << 20))
    print("holding", 50 * n, "MB", flush=True)
""",
    "fork bomb": """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as err:
    print("forks", n, "then", err.strerror, flush=True)
""",
    "daemon": """
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "derma-daemon-mark"])
    os._exit(0)
time.sleep(1)
print("daemon started", flush=True)
""",
    "neighbour": """
import glob, os
read = []
found = set(glob.glob("/tmp/dermagrade-*/sandbox/*")) | set(glob.glob("/tmp/dermagrade-*/*"))
for pid in filter(str.isdigit, os.listdir("/proc")):
    found |= set(glob.glob(f"/proc/{pid}/root/tmp/dermagrade-*/sandbox/*"))
    found |= set(glob.glob(f"/proc/{pid}/cwd/../*"))
for path in sorted(found):
    try:
        with open(path) as f:
            if f.read().startswith("SECRET"):
                read.append(path)
    except (OSError, ValueError):  # not readable, or not text
        pass
print("files read:", read, flush=True)
print("read", len(read), "of the other grading's files", flush=True)
""",
    "look-around": """
import os
seen = []
for path in ("/etc/shadow", "/etc/passwd", "/etc/hostname", "/root", "/check/fixed/sandbox.py", "/check",
             "/home", "/proc/1/cmdline", "/sys/fs/cgroup/cgroup.procs"):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(64)
        seen.append(path)
    except OSError:
        pass
print("readable:", seen, "; / holds", sorted(os.listdir("/")), flush=True)
print("read", len(seen), "of 9 host paths; / holds", len(os.listdir("/")), "entries", flush=True)
""",
}


def load(path):
    spec = importlib.util.spec_from_file_location("sandbox_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(sandbox_py, host):
    sandbox = load(sandbox_py)
    kills = []
    oom_killed = sandbox.Cgroup.oom_killed

    def recorded(cgroup):  # what the kernel said, kept for the table (Sandbox.run drops the cgroup after reading it)
        kills.append(oom_killed(cgroup))
        return kills[-1]

    sandbox.Cgroup.oom_killed = recorded

    def run(name, code, hold_s=0.0):
        kills.clear()
        with sandbox.Sandbox(LIMITS) as sb:
            (sb.path / "case.py").write_text(code + (f"\nimport time; time.sleep({hold_s})\n" if hold_s else ""))
            (sb.path / "model.py").write_text("SECRET\n" if name == "victim" else "\n")
            sb.seal()
            outcome = sb.run([sys.executable, "-I", sb.inside("case.py")], env={"PATH": "/usr/bin:/bin"})
        return outcome, bool(kills and kills[-1])

    notes = {}
    for name, code in CASES.items():
        victim = {}
        if name == "neighbour":  # another grading runs beside it meanwhile, on a thread of the same grader
            other = threading.Thread(target=lambda: victim.update(o=run("victim", "print('victim')", 15)[0]))
            other.start()
            time.sleep(8)
        t0 = time.monotonic()
        outcome, held = run(name, code)
        if victim:
            other.join()
        got = [int(n) for n in re.findall(r"holding (\d+) MB", outcome.output)]
        last = outcome.output.strip().splitlines()[-1] if outcome.output.strip() else ""
        if outcome.memory_exceeded:
            verdict = "memory limit exceeded: the student's"
        elif outcome.timed_out:
            verdict = "time limit"
        else:
            verdict = f"exit {outcome.returncode}"
        if name == "daemon":
            time.sleep(2)
            alive = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, b"derma-daemon-mark")]
            verdict += f"; daemon {'SURVIVED' if alive else 'killed with the sandbox'}"
        elif name == "/dev/shm hog":  # without bubblewrap's private /dev/shm the files are the host's
            left = [f"/dev/shm/{f}" for f in os.listdir("/dev/shm") if f.startswith("hog")]
            if left:
                verdict += f"; left {sum(os.path.getsize(f) for f in left) >> 20} MB in the host's /dev/shm"
            for f in left:
                os.unlink(f)
        elif name in ("fork bomb", "neighbour", "look-around"):
            verdict += f"; {last[:100]}"
            details = outcome.output.strip().splitlines()[:-1]
            if details:
                print(f"DERMA-DETAIL|{host}|{name}|{' / '.join(details)[:400]}", flush=True)
        how = "cgroup (memory.events oom_kill)" if held else "polling" if outcome.memory_exceeded else "-"
        print("DERMA-VM|" + "|".join([host, name, verdict.replace("|", "/"), f"{outcome.peak_rss_mb:.0f}",
                                      f"{max(got)} MB" if got else "-", how]), flush=True)
        print(f"  ({name}: {time.monotonic() - t0:.1f} s)", flush=True)
        notes.update({n: 1 for n in outcome.isolation})
    for note in notes:
        if "memory" in note or "CPU" in note:
            print(f"DERMA-NOTE|{host}|{note}", flush=True)


def _cmdline_has(pid, mark):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return mark in f.read()
    except OSError:
        return False


if __name__ == "__main__":
    main(*sys.argv[1:])
