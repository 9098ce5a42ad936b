"""Memory held outside the process (issue 11: 2.5 GB in /dev/shm files and a memfd against a 1,536 MB limit;
the record said 865 MB and the /dev/shm file outlived the run).

At import it fills /dev/shm, /tmp and its working folder with files, then grows a memfd 100 MB at a time,
printing the total it holds after each step, until it reaches HOLD_MB or is stopped. None of these pages is in
any process's RSS. The grader must stop it at the memory limit and leave nothing behind.
"""
import mmap
import os
import time

HOLD_MB = 2560
CHUNK = 100 * 2**20
held = 0


def _fill(path, want):
    """Write up to `want` bytes into `path`; return what was written (a capped tmpfs stops it)."""
    global held
    written = 0
    try:
        with open(path, "wb") as f:
            while written < want:
                f.write(b"\1" * (1 << 20))
                f.flush()
                written += 1 << 20
                held += 1 << 20
    except OSError as err:
        print(f"shm_hog: {path}: {type(err).__name__} after {written >> 20} MB", flush=True)
    return written


for path in ("/dev/shm/hog", "/tmp/hog", "hog"):
    _fill(path, 512 * 2**20)
    print(f"shm_hog: holding {held >> 20} MB in files", flush=True)
fd = os.memfd_create("hog")
while held < HOLD_MB * 2**20:
    size = os.fstat(fd).st_size
    os.ftruncate(fd, size + CHUNK)
    with mmap.mmap(fd, CHUNK, offset=size) as m:
        for i in range(0, CHUNK, 4096):
            m[i] = 1
    held += CHUNK
    print(f"shm_hog: holding {held >> 20} MB", flush=True)
print("shm_hog: held it all; sleeping", flush=True)
time.sleep(600)
