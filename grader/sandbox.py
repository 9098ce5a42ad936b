"""Run one untrusted command: the student's code, in the child process of one grading.

What applies depends on the host; the Outcome lists exactly which protections held (the "Sandbox:" line of the
instructor's report, instructor_report.txt). On a grading box (root, Linux):
  - bubblewrap (`bwrap`) gives the child a minimal filesystem view: the interpreter and system libraries read-only,
    its own folder as /sandbox (the harness, its two files, data without test labels, read-only; out/ writable),
    private size-capped tmpfs for /tmp, /var/tmp, /dev/shm and its working folder, a fresh /proc of its own PID
    namespace, no network, no IPC with the host. Nothing else of the host exists for it.
  - A uid and gid of its own for each grading, from the rubric's range and held by a lock file for the run, with
    0700/0750 folders: two gradings at once cannot see or touch each other.
  - A memory cgroup (v1 or v2) of its own, so tmpfs, /dev/shm and memfd pages count with the process memory, a
    pids cgroup, and a cpu controller quota of the rubric's `threads` cores, so extra processes cannot take its
    neighbours' cores; rlimits on file size, processes and core dumps; out/ is a size- and inode-capped tmpfs.
Without root (an instructor on a shared server), where the kernel lets unprivileged users make user namespaces,
bubblewrap builds the same view in a user namespace of its own (`--unshare-user`), with the same PID, network, IPC
and UTS namespaces and no capabilities. What root alone gives is missing: the child runs as the grader's own uid
(two gradings at once are kept apart by their views alone, each binding its own 0700 folder and nothing else), no
cgroup unless one is delegated to the user (else memory is polled, as below) and so no CPU quota, and out/ is a
plain folder (mounting a tmpfs needs root). Its processes and threads are capped by RLIMIT_NPROC set inside the
user namespace, where since Linux 5.14 it counts that namespace's processes alone, not the grader's user's other
ones.
Without bubblewrap (not installed, or a container that forbids its namespaces) the hand-written fallback keeps the
uid, a network and a PID namespace, and says that the host's filesystem is visible. Without a cgroup the
watchdog counts process RSS plus the child's private tmpfs. Without root and without bubblewrap nothing can be
switched: the grader's own user runs the child, as a child subreaper that hunts down whatever the child leaves
running. Without root, a cgroup v2 subtree delegated to the grader's user (systemd-run --user --scope -p
Delegate=yes, say) still gives the cgroup's limits, with or without bubblewrap.

Memory without a cgroup is counted for the whole process tree. Normally one process holds nearly all of it, and
the sum of the RSS values in /proc/PID/stat is exact and cheap. When two or more processes are large, forks may
share pages copy-on-write, so the tree is counted from smaps_rollup instead: the private memory of every process
plus the largest shared part once. smaps_rollup is not read on every poll because it walks the page tables under
the process's memory lock: 16 ms per read of a process that has imported torch, which slowed the child's training.
"""
import ctypes
import errno
import fcntl
import glob
import os
import random
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MNT_DETACH = 2, 4, 8, 2
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
INSIDE = "/sandbox"         # where the child sees its folder when bubblewrap runs
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")  # replaced by private size-capped tmpfs in the view
UID_LOCKS = "/run/dermagrade-uids"  # one lock file per uid in use (root only)
OUT_MB, OUT_FILES = 64, 64  # out/: the child's status, predictions and parameter shapes, nothing more
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

# Inside bubblewrap (which runs as root without a user namespace, so that the uid is a real one on the host):
# drop to the grading's uid and gid, then become the graded command. No new privileges can be gained after this
# (bubblewrap sets no_new_privs), and setuid clears every capability.
_DROP = ("import os, sys\n"
         "os.setgroups([])\n"
         "os.setgid(int(sys.argv[2]))\n"
         "os.setuid(int(sys.argv[1]))\n"
         "os.execv(sys.argv[3], sys.argv[3:])\n")

# Inside bubblewrap's user namespace (no root): cap the processes and threads of this grading, then become the graded
# command. Set here, not before bubblewrap starts: only inside the new namespace does RLIMIT_NPROC count this
# grading's processes alone (Linux 5.14+); outside it counts every process of the grader's user.
_CAP_PROCESSES = ("import os, resource, sys\n"
                  "resource.setrlimit(resource.RLIMIT_NPROC, (int(sys.argv[1]),) * 2)\n"
                  "os.execv(sys.argv[2], sys.argv[2:])\n")
NPROC_PER_NAMESPACE = tuple(map(int, re.match(r"(\d+)\.(\d+)", os.uname().release).groups())) >= (5, 14)


@dataclass
class Outcome:
    returncode: int | None
    seconds: float
    timed_out: bool = False
    memory_exceeded: bool = False
    peak_rss_mb: float = 0.0   # peak memory held: process memory plus tmpfs/shm/memfd pages where a cgroup counts them
    output: str = ""
    output_bytes: int = 0
    isolation: list = field(default_factory=list)
    report: bytes = b""        # the first REPORT_MAX_BYTES the child sent over its report pipe (grader/protocol.py)
    report_bytes: int = 0      # all it sent


class _OutputKeeper(threading.Thread):
    """Drain the child's output so it never blocks; keep the first and (with `tail`) the last `limit` bytes."""

    def __init__(self, stream, limit, tail=True):
        super().__init__(daemon=True)
        self.stream, self.limit, self.keep_tail = stream, limit, tail
        self.head, self.tail, self.total = bytearray(), deque(), 0

    def run(self):
        tail_bytes = 0
        while chunk := self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536):
            self.total += len(chunk)
            room = self.limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk and self.keep_tail:
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


# The main process of every sandbox running in this process, so that none is taken for an orphan. Orphans themselves
# are not told apart by sandbox: concurrent gradings run one per process (instructor/worker.py says why).
_ACTIVE = set()


def _orphans(table=None):
    """Processes re-parented to us (we are a subreaper): what a child left behind. Another sandbox's main
    process is our child too, but not an orphan."""
    me = os.getpid()
    return {pid for pid, (ppid, _) in (table or _proc_table()).items() if ppid == me and pid not in _ACTIVE}


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


_bwrap_state = {}


def bubblewrap():
    """(path to bwrap, None) when bubblewrap can build a sandbox here: as root, or without root in a user namespace
    of its own (rootless_flags()); (None, why not, with the fix) otherwise."""
    if "result" not in _bwrap_state:
        path = shutil.which("bwrap")
        if not path:
            result = None, "bubblewrap is not installed (apt-get install -y bubblewrap)"
        else:
            probe = subprocess.run([path, *rootless_flags(path), "--unshare-pid", "--unshare-net", "--ro-bind", "/",
                                    "/", "--proc", "/proc", "--tmpfs", "/tmp", "--", "/bin/true"],
                                   capture_output=True, text=True)
            why = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
            if probe.returncode == 0:
                result = path, None
            elif os.geteuid() != 0:
                result = None, (f"bubblewrap cannot make a user namespace without root ({why}); fix: allow "
                                "unprivileged user namespaces (sysctl user.max_user_namespaces=10000, and "
                                "kernel.unprivileged_userns_clone=1 or Ubuntu's AppArmor rule for bwrap where "
                                "they exist), or grade as root")
            else:
                result = None, f"bubblewrap cannot run here ({why})"
        _bwrap_state["result"] = result
    return _bwrap_state["result"]


def rootless_flags(path):
    """bubblewrap's flags for a user namespace of its own when the grader is not root ([] as root, which needs none:
    its child gets a real uid of its own). --disable-userns (bubblewrap 0.8+) also stops the child from making
    nested user namespaces, where it would hold every capability over mounts and tmpfs of its own."""
    if os.geteuid() == 0:
        return []
    if "disable_userns" not in _bwrap_state:
        help_text = subprocess.run([path, "--help"], capture_output=True, text=True).stdout
        _bwrap_state["disable_userns"] = "--disable-userns" in help_text
    return ["--unshare-user", *(["--disable-userns"] if _bwrap_state["disable_userns"] else [])]


def gpu_nodes():
    """The NVIDIA driver's device nodes on this machine (/dev/nvidiactl, /dev/nvidia0, /dev/nvidia-uvm, ...)."""
    return sorted(glob.glob("/dev/nvidia*"))


def _uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return {int(v) for v in line.split()[1:]}
    except (OSError, ValueError):
        pass
    return set()


def _pids_of_uid(uid):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and uid in _uid_of(p)]


class Identity:
    """A uid and gid of one grading's own (same number, no passwd entry), held by a lock file until released, so
    that no other grading on this machine, in this process or another, gets it meanwhile."""

    def __init__(self, uid, lock_fd):
        self.uid = self.gid = uid
        self._lock_fd = lock_fd

    def release(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the file drops the lock
            self._lock_fd = None


def claim_identity(first, last):
    """A free uid from [first, last] (None when not root: nothing can be switched)."""
    if os.geteuid() != 0:
        return None
    os.makedirs(UID_LOCKS, mode=0o700, exist_ok=True)
    info = os.lstat(UID_LOCKS)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise RuntimeError(f"{UID_LOCKS} must be a folder owned by root with mode 0700")
    span = last - first + 1
    start = random.randrange(span)
    for i in range(span):
        uid = first + (start + i) % span
        fd = os.open(f"{UID_LOCKS}/{uid}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if _pids_of_uid(uid):  # something from an earlier run (or another program) still runs as this uid
            os.close(fd)
            continue
        return Identity(uid, fd)
    raise RuntimeError(f"every sandbox uid in {first}..{last} is in use")


CGROUP_ROOT = "/sys/fs/cgroup"  # where the cgroup filesystems are mounted (tests point it at a fake tree)
GRADER_LEAF = "dermagrade-grader"  # v2: the leaf the grader's cgroup's processes move into (Cgroup._v2_parent)
_v2_lock = threading.Lock()  # gradings on threads of one process enable the controllers one at a time


def _own_cgroups():
    """The lines of /proc/self/cgroup: "id:controllers:path" per hierarchy, "0::path" for v2."""
    with open("/proc/self/cgroup") as f:
        return f.read().splitlines()


def _write(path, text):
    """Write a cgroup file. Never creates one: a missing file means that its controller is not enabled there."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _words(path):
    try:
        with open(path) as f:
            return set(f.read().split())
    except FileNotFoundError:
        return set()


def _v2_parent(own):
    """(the cgroup v2 folder that gets each grading's cgroup as a child, how its controllers were enabled).

    cgroup v2 gives a child the memory, pids and cpu controllers only when its parent lists them in
    cgroup.subtree_control, and a cgroup that holds processes may not (the "no internal processes" rule: EBUSY).
    The grader's own cgroup holds the grader, so unless it was given a delegated subtree whose controllers are
    already on, every process of the grader's cgroup (the grader, and the shell or service that started it) moves
    into the leaf GRADER_LEAF beside the gradings, and then the controllers are enabled. A grader already in that
    leaf (a second grading, or a second grader in the same cgroup) uses its parent. Raises OSError (EBUSY, EACCES,
    EOPNOTSUPP...) with a strerror that says what was tried; the caller falls back to counting memory itself.
    """
    moved = os.path.basename(own) == GRADER_LEAF
    if moved:
        own = os.path.dirname(own)
    available = _words(f"{own}/cgroup.controllers")
    if not {"memory", "pids"} <= available:
        raise OSError(errno.ENOENT, "cgroup v2 gives the grader's cgroup no memory and pids controllers")
    wanted = [c for c in ("memory", "pids", "cpu") if c in available]
    with _v2_lock:
        try:
            for attempt in range(6):  # a process forking into our cgroup meanwhile makes it busy again
                try:
                    if not set(wanted) <= _words(f"{own}/cgroup.subtree_control"):
                        _enable(own, wanted)
                    break
                except OSError as err:
                    if err.errno != errno.EBUSY or attempt == 5:
                        raise
                    os.makedirs(f"{own}/{GRADER_LEAF}", exist_ok=True)
                    for pid in _words(f"{own}/cgroup.procs"):
                        try:
                            _write(f"{own}/{GRADER_LEAF}/cgroup.procs", pid)
                        except ProcessLookupError:
                            pass  # it exited
                    moved = True
        except OSError as err:
            raise OSError(err.errno, f"cgroup v2 controllers not enabled for the grader's cgroup: moving the "
                          f"grader into a leaf failed ({err.strerror}); a delegated cgroup of its own fixes "
                          f"this: systemd-run --scope -p Delegate=yes python -m grader ...") from None
    if moved:
        return own, f"cgroup v2, controllers enabled by moving the grader into the leaf {GRADER_LEAF}"
    return own, "cgroup v2, controllers enabled for the grader's cgroup"


def _enable(cgroup, controllers):
    """Enable the controllers for the cgroup's children; cpu on its own, so that a kernel that refuses it
    (realtime processes, say) costs only the CPU quota."""
    _write(f"{cgroup}/cgroup.subtree_control", " ".join(f"+{c}" for c in controllers if c != "cpu"))
    if "cpu" in controllers:
        try:
            _write(f"{cgroup}/cgroup.subtree_control", "+cpu")
        except OSError:
            pass  # no cpu.max in the grading's cgroup: Cgroup.cpu says there is no quota


class Cgroup:
    """A memory, pids and cpu cgroup of the child's own, under the grader's own cgroup (v1 or v2). Memory counts
    every page the child's processes hold: anonymous memory, tmpfs, /dev/shm and memfd files, swap. The CPU quota
    (`cores` cores) is optional: without it grading still runs, and `cpu` (the isolation note) says why. `how`
    says which cgroup held the memory (cgroup v1, or v2 and how its controllers were enabled)."""

    def __init__(self, name, memory_mb, max_processes, cores):
        self.dirs, self.memory, self.v2, self.how = [], None, False, "cgroup v1"
        self.cpu = "no CPU quota (no cpu controller for the grader's cgroup)"
        own = {}
        for line in _own_cgroups():
            hid, controllers, rel = line.split(":", 2)
            for c in controllers.split(",") if controllers else ["" if hid == "0" else None]:
                if c in ("memory", "pids", ""):
                    own[c] = rel
                elif c == "cpu":  # v1 mounts a hierarchy under its controllers' names, such as cpu,cpuacct
                    own[c] = f"{CGROUP_ROOT}/{controllers}{rel}"
        limit = str(int(memory_mb * 1024 * 1024))
        try:
            self._create(own, name, limit, max_processes, cores)
        except OSError:
            self.remove()
            raise

    def _create(self, own, name, limit, max_processes, cores):
        if "memory" in own and os.path.isdir(f"{CGROUP_ROOT}/memory"):
            self.memory = self._make(f"{CGROUP_ROOT}/memory{own['memory']}/{name}",
                                     [("memory.limit_in_bytes", limit), ("memory.memsw.limit_in_bytes", limit)])
            if "pids" in own and os.path.isdir(f"{CGROUP_ROOT}/pids"):
                self._make(f"{CGROUP_ROOT}/pids{own['pids']}/{name}", [("pids.max", str(max_processes))])
            if "cpu" in own and os.path.isdir(own["cpu"]):
                self._quota(f"{own['cpu']}/{name}", [("cpu.cfs_period_us", "100000"),
                                                     ("cpu.cfs_quota_us", str(cores * 100000))], cores)
        elif "" in own and os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers"):
            self.v2 = True
            parent, self.how = _v2_parent(f"{CGROUP_ROOT}{own['']}".rstrip("/"))
            self.memory = self._make(f"{parent}/{name}", [
                ("memory.max", limit), ("memory.swap.max", "0"), ("pids.max", str(max_processes))])
            if os.path.exists(f"{self.memory}/cpu.max"):  # else our parent does not enable the cpu controller
                self._quota(self.memory, [("cpu.max", f"{cores * 100000} 100000")], cores)

    def _quota(self, path, settings, cores):
        """Limit the child to `cores` cores, in a cpu cgroup of its own (v1) or its one cgroup (v2). Where the
        kernel refuses (a parent's smaller quota, say), grading goes on without it and `cpu` says why."""
        new = path not in self.dirs
        try:
            if new:
                self._make(path, settings)
            else:
                self._set(path, settings)
            self.cpu = f"CPU quota of {cores} core(s)"
        except OSError as err:
            self.cpu = f"no CPU quota ({err.strerror})"
            if new and path in self.dirs:  # made but not limited: the child does not join it
                os.rmdir(path)
                self.dirs.remove(path)

    def _make(self, path, settings):
        os.mkdir(path, 0o700)
        self.dirs.append(path)
        self._set(path, settings)
        return path

    @staticmethod
    def _set(path, settings):
        for key, value in settings:
            if key == "memory.memsw.limit_in_bytes" and not os.path.exists(f"{path}/{key}"):
                continue  # the kernel does not account swap separately: memory.limit_in_bytes covers it
            _write(f"{path}/{key}", value)

    def join(self):
        """Move this process in (called in the child between fork and exec)."""
        for path in self.dirs:
            _write(f"{path}/cgroup.procs", "0" if self.v2 else str(os.getpid()))

    def _read(self, name):
        with open(f"{self.memory}/{name}") as f:
            return dict(line.split() for line in f if len(line.split()) == 2)

    def held_mb(self):
        """Memory the child holds: anonymous + shmem (tmpfs, /dev/shm, memfd) + swap, not reclaimable file cache."""
        try:
            s = self._read("memory.stat")
            keys = ("anon", "shmem") if self.v2 else ("total_rss", "total_shmem", "total_swap")
            return sum(int(s.get(k, 0)) for k in keys) / 2**20
        except (OSError, ValueError):
            return 0.0

    def oom_killed(self):
        try:
            return int(self._read("memory.events" if self.v2 else "memory.oom_control").get("oom_kill", 0)) > 0
        except (OSError, ValueError):
            return False

    def pids(self):
        try:
            with open(f"{self.memory}/cgroup.procs") as f:
                return [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            return []

    def remove(self):
        """Kill what is left and remove the cgroup; never raises."""
        for _ in range(50):
            left = self.pids()
            _kill_all(left)
            _reap()
            if not left:
                break
            time.sleep(0.02)
        for path in self.dirs:
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def remove_tree(path):
    """Remove a folder whatever the child put in it (5,000-deep trees, odd names, no permissions); never raises.
    GNU rm walks without recursion limits and does not cross into other filesystems. Without root, a folder the
    child made unreadable (mode 000, in out/) stops rm: it is made the owner's again first (chmod does not follow
    links)."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 120}
    try:
        if os.geteuid() != 0:
            subprocess.run(["chmod", "-R", "u+rwX", "--", str(path)], **quiet)
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], **quiet)
    except (OSError, subprocess.SubprocessError):
        pass


def _remove_owned(uid, folders=("/tmp", "/var/tmp", "/dev/shm")):
    """Without a private /tmp (no bubblewrap), what the child left in the host's shared temp folders."""
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    remove_tree(entry.path)
            except OSError:
                continue


def _held_outside_mb(tree, own_ns, uid):
    """Without a cgroup: memory the child holds outside any process's RSS. Its private tmpfs (/proc/PID/root
    shows its mount namespace), memfd files it keeps open, and without a private /dev/shm the files its uid owns
    in the host's."""
    used, seen, views = 0, set(), set()

    def count(st):
        if (st.st_dev, st.st_ino) in seen:
            return 0
        seen.add((st.st_dev, st.st_ino))
        return st.st_blocks * 512

    for pid in tree:
        try:
            ns = os.readlink(f"/proc/{pid}/ns/mnt")
            root = os.stat(f"/proc/{pid}/root/")
            host = os.stat("/")
            if own_ns is not None and ns != own_ns and ns not in views and (root.st_dev, root.st_ino) != (
                    host.st_dev, host.st_ino):  # the view's private tmpfs, once, after bubblewrap has built it
                views.add(ns)
                for d in ("/tmp", "/var/tmp", "/dev/shm", f"{INSIDE}/work"):
                    vfs = os.statvfs(f"/proc/{pid}/root{d}")
                    used += (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                    used += count(os.stat(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    if uid is not None and own_ns is None:
        try:
            for entry in os.scandir("/dev/shm"):
                st = entry.stat(follow_symlinks=False)
                if st.st_uid == uid:
                    used += count(st)
        except OSError:
            pass
    return used / 2**20


class Sandbox:
    """One grading's sandbox: a private folder (`path`, shown to the child as `inside("")`), an identity, and one
    run. A context manager: leaving it kills what is left, unmounts, removes everything and frees the uid, and
    never raises, so a grading's results (written before) cannot be lost to cleanup.

    limits: the rubric's (time_limit_s, memory_limit_mb, output_limit_kb, threads, sandbox_uids, scratch_mb,
    max_file_mb, max_processes). extra_read: host folders the child may read at the same path (the pretrained-weights
    cache).
    """

    def __init__(self, limits, extra_read=()):
        self.limits, self.extra_read = limits, [p for p in extra_read if os.path.isdir(p)]
        self.tmp = Path(tempfile.mkdtemp(prefix="dermagrade-"))
        self.path = self.tmp / "sandbox"
        self.path.mkdir()
        self.ids = self._mounted = self.cgroup = None
        try:
            self.bwrap, self.no_bwrap_reason = bubblewrap()
            self.ids = claim_identity(*limits.sandbox_uids)
        except BaseException:
            remove_tree(self.tmp)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def inside(self, rel):
        """The path the child sees for `rel` (a path relative to the sandbox folder)."""
        root = INSIDE if self.bwrap else str(self.path)
        return f"{root}/{rel}".rstrip("/")

    def seal(self):
        """After the caller wrote the child's files: only this grading's uid may read them; out/ is the child's
        (a size-capped tmpfs where mounting is allowed), work/ its working folder and home/ its $HOME (so what
        imports create there, such as ~/.medmnist, stays out of the working folder). Without root the child runs as
        the grader's own uid, so the folder is private to that uid (0700): no other user of a shared server reads a
        student's code or the data."""
        for sub in ("out", "work", "home"):
            (self.path / sub).mkdir(exist_ok=True)
        if self.ids is None:
            for p in [self.tmp, self.path, *self.path.rglob("*")]:
                os.chmod(p, 0o700 if p.is_dir() else 0o600)
            return
        gid = self.ids.gid
        for p in [self.path, *self.path.rglob("*")]:
            os.chown(p, 0, gid, follow_symlinks=False)
            os.chmod(p, 0o750 if p.is_dir() else 0o640)
        os.chown(self.tmp, 0, gid)
        os.chmod(self.tmp, 0o710)
        out = str(self.path / "out").encode()
        opts = f"size={OUT_MB}m,nr_inodes={OUT_FILES},mode=0700,uid={self.ids.uid},gid={gid}".encode()
        self._mounted = _libc.mount(b"tmpfs", out, b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0
        for sub in ("out", "work", "home"):
            os.chown(self.path / sub, self.ids.uid, gid)
            os.chmod(self.path / sub, 0o700)

    def read_output(self, name, max_bytes):
        """The bytes of out/`name` (None if absent). Never follows a link, never blocks on a FIFO or a device, never
        reads more than max_bytes; anything but a plain file of at most max_bytes raises ValueError."""
        try:
            fd = os.open(self.path / "out" / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as err:  # ELOOP: a symlink
            raise ValueError(f"out/{name} cannot be opened safely ({err.strerror})") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
                raise ValueError(f"out/{name} is not a plain file of at most {max_bytes:,} bytes")
            chunks, size = [], 0
            while size <= info.st_size and (chunk := os.read(fd, min(1 << 20, info.st_size + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
            if size != info.st_size:
                raise ValueError(f"out/{name} changed while it was read")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _bwrap_argv(self, cmd):
        argv = [self.bwrap, *rootless_flags(self.bwrap), "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
        if self.ids:  # as root: _DROP below switches to the grading's uid
            argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        binds, dests = [], set()
        for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                binds.append(("--ro-bind", top, top))
        python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
        for p in sorted(python | set(self.extra_read)):
            if p != "/usr" and not p.startswith("/usr/"):  # /usr is bound whole above
                binds.append(("--ro-bind", p, p))
        for p in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
            binds.append(("--ro-bind-try", p, p))
        binds += [("--ro-bind", str(self.path), INSIDE), ("--bind", str(self.path / "out"), f"{INSIDE}/out")]
        for _, _, dest in binds:  # bwrap makes missing parents 0700 (root's): the child must pass through them
            parent = os.path.dirname(dest)
            while parent not in ("/", "") and parent not in dests:
                dests.add(parent)
                parent = os.path.dirname(parent)
        for d in sorted(dests, key=lambda p: p.count("/")):
            argv += ["--perms", "0755", "--dir", d]
        for kind, src, dest in binds:
            argv += [kind, src, dest]
        size = str(self.limits.scratch_mb * 2**20)
        argv += ["--proc", "/proc", "--dev", "/dev"]
        if self.limits.device == "cuda":  # the minimal /dev has no GPU: bind its nodes (the driver makes them 0666)
            for node in gpu_nodes():
                argv += ["--dev-bind", node, node]
        for d, mode in [*((d, "1777") for d in PRIVATE_DIRS), (f"{INSIDE}/work", "0777"), (f"{INSIDE}/home", "0777")]:
            argv += ["--perms", mode, "--size", size, "--tmpfs", d]
        argv += ["--chdir", f"{INSIDE}/work", "--"]
        if self.ids:
            return argv + [sys.executable, "-I", "-c", _DROP, str(self.ids.uid), str(self.ids.gid), *cmd]
        if NPROC_PER_NAMESPACE:  # without root no uid to switch to: the grader's own, with no capabilities
            return argv + [sys.executable, "-I", "-c", _CAP_PROCESSES, str(self.limits.max_processes), *cmd]
        return argv + list(cmd)

    def run(self, cmd, env, report=None):
        """Run `cmd` (paths as `inside` gives them) in the sandbox; return an Outcome. Never raises for anything
        the child does. report: (variable, max bytes): the child gets the write end of a pipe, its file descriptor
        in that variable, and the Outcome keeps the first max bytes it sent (grader/protocol.py's report)."""
        lim = self.limits
        root, isolation = os.geteuid() == 0, []
        rootless_cap = self.bwrap and not self.ids and NPROC_PER_NAMESPACE  # _bwrap_argv's _CAP_PROCESSES
        if self.bwrap:
            isolation.append(f"minimal filesystem view (bubblewrap): the interpreter, the harness, its two files "
                             f"and data without test labels, read-only; private /tmp, /var/tmp, /dev/shm and "
                             f"working folder of {lim.scratch_mb} MB each; own PID namespace; no network")
        else:
            isolation.append(f"the host's filesystem is visible ({self.no_bwrap_reason})")
        if self.ids:
            isolation.append(f"runs as uid {self.ids.uid}, this grading's own, with private 0700 folders")
        elif self.bwrap:
            nested = " and no nested user namespaces" if "--disable-userns" in rootless_flags(self.bwrap) else ""
            isolation.append(f"rootless: runs as the grader's own uid {os.geteuid()} in a user namespace of its own "
                             f"(bubblewrap --unshare-user), with no capabilities{nested}; no uid per grading (that "
                             "needs root): other gradings of this user are kept apart by the view alone, which binds "
                             "this grading's 0700 folder and nothing else")
        else:
            isolation.append("runs as the grader's own user (grader is not root)")
        flags = 0
        if not self.bwrap:
            if root and _can_unshare(CLONE_NEWNET):
                flags = CLONE_NEWNET
            isolation.append("no network" if flags else "network not isolated (" + (
                "the system does not allow a network namespace)" if root else "grader is not root)"))
            if root and _can_unshare(flags | CLONE_NEWPID):
                flags |= CLONE_NEWPID
                cmd = [sys.executable, "-I", "-c", _PID_NS_WRAPPER, *cmd]
                isolation.append("own PID namespace (nothing it starts outlives it)")
        # Without root, only cgroup v2 can give the grader a cgroup: a subtree delegated to its user (systemd's
        # Delegate=yes), whose folder and cgroup.procs and cgroup.subtree_control files that user owns.
        delegable = root or os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers")
        try:
            self.cgroup = Cgroup(f"dermagrade-{self.ids.uid}" if self.ids else self.tmp.name,  # unique either way
                                 lim.memory_limit_mb, lim.max_processes, lim.threads) if delegable else None
        except OSError as err:
            self.cgroup = None
            isolation.append(f"no memory cgroup ({err.strerror}): memory counted by the grader as process RSS plus "
                             "tmpfs, /dev/shm and memfd files")
        if self.cgroup and self.cgroup.memory:
            isolation.append(f"memory cgroup of {lim.memory_limit_mb:g} MB ({self.cgroup.how}; tmpfs, /dev/shm "
                             "and memfd count)")
        elif self.cgroup is not None:
            self.cgroup = None
            isolation.append("no memory cgroup on this host: memory counted by the grader as process RSS plus "
                             "tmpfs, /dev/shm and memfd files")
        elif not root:
            isolation.append("no memory cgroup (grader is not root; a delegated cgroup is not used): memory polled by "
                             "the grader every 0.1 s as process RSS plus tmpfs, /dev/shm and memfd files (the kernel "
                             "refuses nothing: a use above the limit is stopped at the next poll)")
        isolation.append(self.cgroup.cpu if self.cgroup else
                         f"no CPU quota ({'no cgroup of its own' if delegable else 'grader is not root'})")
        isolation.append(f"files up to {lim.max_file_mb} MB"
                         + (f", {lim.max_processes} processes" if self.ids or self.cgroup or rootless_cap else "")
                         + (f", out/ capped at {OUT_MB} MB and {OUT_FILES} files" if self._mounted else "")
                         + ("" if root else "; out/ is a plain folder, its total size and file count not capped "
                                            "(a tmpfs for it needs root)"))
        ids, cgroup = self.ids, self.cgroup
        nproc = (lim.max_processes, lim.max_processes)

        def preexec():  # runs in the child between fork and exec
            if cgroup:
                cgroup.join()
            resource.setrlimit(resource.RLIMIT_FSIZE, (lim.max_file_mb * 2**20,) * 2)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if flags and _libc.unshare(flags) != 0:
                os._exit(97)
            if ids and not self.bwrap:
                os.setgroups([])
                os.setgid(ids.gid)
                os.setuid(ids.uid)
            if ids:  # RLIMIT_NPROC counts every process of the uid: only with this grading's own
                resource.setrlimit(resource.RLIMIT_NPROC, nproc)
            os.nice(5)

        argv = self._bwrap_argv(cmd) if self.bwrap else cmd
        cwd = self.path / "work"
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        own_ns = os.readlink("/proc/self/ns/mnt")  # the child's differs when bubblewrap gives it a view
        pipe = os.pipe() if report else None
        if pipe:
            env = {**env, report[0]: str(pipe[1])}
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec,
                                    pass_fds=pipe[1:] if pipe else ())
        finally:
            if pipe:
                os.close(pipe[1])  # the child holds the only write end: end of file when its processes are gone
        _ACTIVE.add(proc.pid)
        keeper = _OutputKeeper(proc.stdout, lim.output_limit_kb * 1024)
        keeper.start()
        reporter = _OutputKeeper(open(pipe[0], "rb", buffering=0), report[1], tail=False) if pipe else None
        if reporter:
            reporter.start()
        outcome = Outcome(returncode=None, seconds=0.0, isolation=isolation)
        while proc.poll() is None:
            if cgroup:  # the cgroup knows its processes and its memory: no scan of /proc (20 ms) every poll
                tree, held = {proc.pid, *cgroup.pids()}, cgroup.held_mb()
            else:
                table = _proc_table()
                tree = _descendants({proc.pid} | _orphans(table), table)
                held = _tree_memory_mb(tree, table) + _held_outside_mb(
                    tree, own_ns if self.bwrap else None, self.ids.uid if self.ids else None)
            outcome.peak_rss_mb = max(outcome.peak_rss_mb, held)
            if held > lim.memory_limit_mb:
                outcome.memory_exceeded = True
            if time.monotonic() - t0 > lim.time_limit_s:
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
        _ACTIVE.discard(proc.pid)
        outcome.seconds = time.monotonic() - t0
        if cgroup and cgroup.oom_killed():  # the kernel stopped it at the limit, between two polls
            outcome.memory_exceeded = True
            outcome.peak_rss_mb = max(outcome.peak_rss_mb, float(lim.memory_limit_mb))
        self._kill_leftovers()
        keeper.join(timeout=2)
        outcome.returncode = proc.returncode
        outcome.output, outcome.output_bytes = keeper.text(), keeper.total
        if reporter:
            reporter.join(timeout=2)
            outcome.report, outcome.report_bytes = bytes(reporter.head), reporter.total
            if not reporter.is_alive():  # else a leftover still holds the pipe: never close an fd being read
                reporter.stream.close()
        return outcome

    def _kill_leftovers(self):
        _cleanup()
        if self.cgroup:
            self.cgroup.remove()
            self.cgroup = None
        if self.ids:
            for _ in range(20):
                left = _pids_of_uid(self.ids.uid)
                if not left:
                    break
                _kill_all(left)
                _reap()
                time.sleep(0.02)

    def close(self):
        """Kill, unmount, remove, release; never raises (each step on its own)."""
        for step in (self._kill_leftovers, self._unmount, lambda: remove_tree(self.tmp), self._forget):
            try:
                step()
            except Exception:  # noqa: BLE001  cleanup must reach the next step whatever happened
                pass

    def _unmount(self):
        if self._mounted:
            _libc.umount2(str(self.path / "out").encode(), MNT_DETACH)
            self._mounted = False

    def _forget(self):
        if self.ids:
            if not self.bwrap:
                _remove_owned(self.ids.uid)
            self.ids.release()
            self.ids = None
