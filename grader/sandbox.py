"""Run one command as an untrusted child: its own session, no network, an unprivileged user when we are root,
a wall-clock limit, a memory limit on the whole process tree, and output kept to a head and a tail.

Linux only (Gradescope, Docker, CI). When root, the child gets its own PID namespace: when the graded process
ends, the kernel kills everything it started (daemons, double forks, fork chains), atomically. Without that (not
root, or a container that forbids namespaces), this process becomes a "child subreaper", so anything the child
leaves running is re-parented here and killed by repeated scans when the child is done.

Memory is counted for the whole process tree. Normally one process holds nearly all of it, and the sum of the
RSS values in /proc/PID/stat is exact and cheap. When two or more processes are large, forks may share pages
copy-on-write, so the tree is counted from smaps_rollup instead: the private memory of every process plus the
largest shared part once. smaps_rollup is not read on every poll because it walks the page tables under the
process's memory lock: 16 ms per read of a process that has imported torch, which slowed the child's training.
"""
import ctypes
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
_libc = ctypes.CDLL(None, use_errno=True)
_unshare_ok = {}

# First process of a new PID namespace is the graded command itself (pid 1 there): this tiny wrapper forks it,
# waits, and passes its exit status on. When pid 1 exits, the kernel kills every process left in the namespace.
_PID_NS_WRAPPER = ("import os, sys\n"
                   "pid = os.fork()\n"
                   "if pid == 0:\n"
                   "    os.execv(sys.argv[1], sys.argv[1:])\n"
                   "code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])\n"
                   "if code < 0:\n"
                   "    os.kill(os.getpid(), -code)\n"
                   "sys.exit(code)\n")


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
            table[int(entry)] = (int(fields[1]), int(fields[21]) * PAGE_KB)
        except (OSError, IndexError, ValueError):
            continue
    return table


_HAVE_SMAPS_ROLLUP = os.path.exists("/proc/self/smaps_rollup")  # Linux 4.14+


def _memory_kb(pid, rss_kb):
    """(private, shared) resident kB of one process, from smaps_rollup.

    Without smaps_rollup (old kernel), or when we may not read it (we are not root and the child made itself
    non-dumpable), its RSS counts as private. A process that is exiting has no memory left to read: (0, 0);
    counting its RSS from the earlier /proc scan would count pages it shares with its parent a second time.
    """
    if not _HAVE_SMAPS_ROLLUP:
        return rss_kb, 0
    try:
        fields = {}
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Private_Clean", "Private_Dirty"):
                    fields[key] = int(rest.split()[0])
        private = fields["Private_Clean"] + fields["Private_Dirty"]
        return private, fields["Rss"] - private
    except PermissionError:
        return rss_kb, 0
    except (OSError, KeyError, ValueError, IndexError):
        return 0, 0


LARGE_PROCESS_KB = 50 * 1024  # a bare Python interpreter (the PID namespace's wrapper) is ~10 MB


def _tree_memory_mb(tree, table):
    """Resident memory of the tree, each page once: summed RSS while at most one process is large; otherwise the
    private memory of every process plus the largest shared part once (forks share pages)."""
    rss = [table[p][1] for p in tree if p in table]
    if sum(kb > LARGE_PROCESS_KB for kb in rss) <= 1:
        return sum(rss) / 1024
    parts = [_memory_kb(p, table[p][1]) for p in tree if p in table]
    return (sum(private for private, _ in parts) + max((shared for _, shared in parts), default=0)) / 1024


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


def _orphans(table=None):
    """Processes re-parented to us (we are a subreaper): what a child left behind."""
    me = os.getpid()
    return {pid for pid, (ppid, _) in (table or _proc_table()).items() if ppid == me}


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


def _cleanup(timeout_s=5.0):
    """Kill whatever the child left running, scanning until nothing has been left for a few rounds.

    One pass is not enough without a PID namespace: a chain of processes that fork and exit moves on between
    the scan and the kill. Its next member is re-parented to us and found by the next scan.
    """
    end, quiet = time.monotonic() + timeout_s, 0
    while quiet < 3 and time.monotonic() < end:
        table = _proc_table()
        left = _descendants(_orphans(table), table)
        _kill_all(left)
        _reap()
        quiet = 0 if left else quiet + 1


def _can_unshare(flags):
    """Whether this process may create these namespaces (a container's seccomp profile may forbid it)."""
    if flags not in _unshare_ok:
        try:
            pid = os.fork()
            if pid == 0:  # try it in a throwaway child, so this process is not moved anywhere
                os._exit(0 if _libc.unshare(flags) == 0 else 1)
            _unshare_ok[flags] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        except OSError:
            return False
    return _unshare_ok[flags]


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
    root = os.geteuid() == 0
    flags = CLONE_NEWNET if isolate_network and root and _can_unshare(CLONE_NEWNET) else 0
    if isolate_network:
        isolation.append("no network" if flags else "network not isolated (" + (
            "the system does not allow a network namespace)" if root else "grader is not root)"))
    if root and _can_unshare(flags | CLONE_NEWPID):
        flags |= CLONE_NEWPID
        cmd = [sys.executable, "-I", "-c", _PID_NS_WRAPPER, *cmd]
        isolation.append("own PID namespace (nothing it starts outlives it)")
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def preexec():  # runs in the child between fork and exec
        if flags and _libc.unshare(flags) != 0:
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
        table = _proc_table()
        tree = _descendants({proc.pid} | _orphans(table), table)
        rss_mb = _tree_memory_mb(tree, table)
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
    _cleanup()  # whatever it left running
    keeper.join(timeout=2)
    outcome.returncode = proc.returncode
    outcome.output, outcome.output_bytes = keeper.text(), keeper.total
    return outcome
