"""The child gives freed memory back to the kernel once it nears its limit (grader/child.py), and only then: the
switch costs a small CNN's steps time, and it must not change any number."""
import subprocess
import sys
import threading
import time

from grader import child

MB = 2**20


class FakeLibc:
    def __init__(self):
        self.calls, self.switched = [], threading.Event()

    def mallopt(self, *args):
        self.calls.append(("mallopt", args))

    def malloc_trim(self, *args):
        self.calls.append(("malloc_trim", args))
        self.switched.set()


def test_the_switch_waits_for_the_limit_and_happens_once(monkeypatch):
    monkeypatch.setattr(child, "WATCH_EVERY_S", 0.01)
    used = [100 * MB]
    libc = FakeLibc()
    assert child.give_back_memory_when_tight(640, rss=lambda: used[0], libc=libc)
    time.sleep(0.1)
    assert libc.calls == [], "switched far below the limit: every small CNN would pay for it"
    used[0] = int(0.8 * 640 * MB)
    assert libc.switched.wait(5)
    time.sleep(0.05)
    assert libc.calls == [("mallopt", (child.M_MMAP_THRESHOLD, child.GIVE_BACK_ABOVE)), ("malloc_trim", (0,))]


# Blocks of 1 MB, freed in a pattern that makes glibc raise its threshold and keep them on the heap.
RETAINED = """
import ctypes, sys, time
sys.path.insert(0, sys.argv[1])
from grader import child
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
size = 1 << 20
warm = ctypes.create_string_buffer(size); del warm  # an mmapped block freed: the threshold rises above 1 MB
blocks = [ctypes.create_string_buffer(size) for _ in range(300)]
keep = blocks[-1]
del blocks
before = rss()
if sys.argv[2] == "switch":
    child.WATCH_EVERY_S = 0.01
    switched = []
    child.give_back_memory_when_tight(1, on_switch=lambda: switched.append(1))
    while not switched:
        time.sleep(0.01)
print(before, rss())
"""


def test_a_real_switch_returns_what_glibc_kept(tmp_path):
    """Without the switch glibc keeps the 300 freed blocks (the RSS stays); with it, they go back."""
    from pathlib import Path
    repo = str(Path(__file__).resolve().parents[1])
    got = {}
    for mode in ("keep", "switch"):
        out = subprocess.run([sys.executable, "-c", RETAINED, repo, mode], capture_output=True, text=True,
                             timeout=120, check=True).stdout.split()
        got[mode] = [int(v) for v in out]
    assert got["keep"][1] > 250, f"glibc did not keep the freed blocks here (RSS {got['keep']} MB): test is moot"
    assert got["switch"][1] < got["switch"][0] - 200, got


def test_a_grading_near_its_limit_switches_and_scores_the_same(synthetic_root, tmp_path):
    """End to end: the rubric's limit reaches the child (request.json), the switch fires near it and says so in the
    output, and every number is the one of a grading far from its limit (only where freed memory goes changed)."""
    from grader.grade import grade
    from test_grader import RUBRIC_PATH, SUBS
    records = {mb: grade(SUBS / "honest", tmp_path / str(mb), rubric_path=RUBRIC_PATH, data_dir=synthetic_root,
                         synthetic=True, log=lambda *a: None, memory_limit_mb=mb) for mb in (500, 2000)}
    near, far = records[500], records[2000]
    assert "memory is near its 500 MB limit: freed memory now goes back" in near["sandbox"]["output"]
    assert "freed memory now goes back" not in far["sandbox"]["output"]
    assert near["score"] == far["score"] and near["metrics"] == far["metrics"]
