"""Run one command as an untrusted child: its own session, no network, an unprivileged user when we are root,
a wall-clock limit, a memory limit on the whole process tree, and output kept to a head and a tail.

Linux only (Gradescope, Docker, CI). This process becomes a "child subreaper", so anything the child leaves
running (a daemon, a double-forked writer) is re-parented here and killed when the child is done.
"""
import ctypes
import os
import pwd
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Outcome:
    returncode: int | None
    seconds: float
    timed_out: bool = False
    memory_exceeded: bool = False
    peak_rss_mb: float = 0.0
    output: str = ""
    output_bytes: int = 0
    isolation: list = field(default_factory=list)


class _OutputKeeper(threading.Thread):
    """Drain the child's output so it never blocks; keep the first and last `limit` bytes."""

    def __init__(self, stream, limit):
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.head, self.tail, self.total = bytearray(), deque(), 0

    def run(self):
        tail_bytes = 0
        while chunk := self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536):
            self.total += len(chunk)
            room = self.limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail.append(chunk)
                tail_bytes += len(chunk)
                while tail_bytes - len(self.tail[0]) >= self.limit:
                    tail_bytes -= len(self.tail.popleft())

    def text(self):
        tail = b"".join(self.tail)[-self.limit:]
        skipped = self.total - len(self.head) - len(tail)
        middle = f"\n[... {skipped:,} bytes of output skipped ...]\n".encode() if skipped > 0 else b""
        return (bytes(self.head) + middle + tail).decode("utf-8", errors="replace")


def _proc_table():
    """{pid: (ppid, rss_kb)} for every process we can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            table[int(entry)] = (int(fields[1]), int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, IndexError, ValueError):
            continue
    return table


def _descendants(root_pids, table):
    """All processes whose ancestry reaches one of root_pids (root_pids included if alive)."""
    found = {p for p in root_pids if p in table}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def _orphans():
    """Processes re-parented to us (we are a subreaper): what a child left behind."""
    me = os.getpid()
    return {pid for pid, (ppid, _) in _proc_table().items() if ppid == me}


def _kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sandbox_user(name):
    """(uid, gid) to drop to, or None when we are not root (then we cannot and do not switch)."""
    if os.geteuid() != 0 or not name:
        return None
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def run(cmd, cwd, env, time_limit_s, memory_limit_mb, output_limit_kb=32, user="nobody", isolate_network=True):
    """Run `cmd` untrusted; return an Outcome. Never raises for anything the child does."""
    ids = sandbox_user(user)
    isolation = [f"runs as user {user}" if ids else "runs as the grader's own user (grader is not root)"]
    can_unshare = isolate_network and os.geteuid() == 0
    isolation.append("no network" if can_unshare else "network not isolated (grader is not root)")
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def preexec():  # runs in the child between fork and exec
        if can_unshare and _libc.unshare(CLONE_NEWNET) != 0:
            os._exit(97)
        if ids:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
        os.nice(5)

    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
    keeper = _OutputKeeper(proc.stdout, output_limit_kb * 1024)
    keeper.start()
    outcome = Outcome(returncode=None, seconds=0.0, isolation=isolation)
    while proc.poll() is None:
        tree = _descendants({proc.pid} | _orphans(), _proc_table())
        rss_mb = sum(_proc_table().get(p, (0, 0))[1] for p in tree) / 1024
        outcome.peak_rss_mb = max(outcome.peak_rss_mb, rss_mb)
        if rss_mb > memory_limit_mb:
            outcome.memory_exceeded = True
        if time.monotonic() - t0 > time_limit_s:
            outcome.timed_out = True
        if outcome.memory_exceeded or outcome.timed_out:
            _kill_all(tree)
            break
        time.sleep(0.1)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _kill_all({proc.pid})
        proc.wait()
    outcome.seconds = time.monotonic() - t0
    _kill_all(_descendants(_orphans(), _proc_table()))  # whatever it left running
    _reap()
    keeper.join(timeout=2)
    outcome.returncode = proc.returncode
    outcome.output, outcome.output_bytes = keeper.text(), keeper.total
    return outcome
