"""Where a student's two files are in an upload: the one rule, used by the grader, run_grader (Gradescope, Docker,
otter) and the public checks, so the same upload is accepted or refused the same way everywhere.

The rule:
    - An upload is a folder or a zip. A folder holding no student files but exactly one zip is read as that zip.
    - model.py and train_config.py must sit side by side in one folder, at most MAX_DEPTH folders below the top:
      flat, in student/, in a folder you zipped, or a zipped folder holding student/ (Downloads/x/student/ fits).
    - Skipped: macOS `__MACOSX/` and dot-files, `__pycache__/`, symbolic links. Windows backslash paths (zips
      made by PowerShell 5.1's Compress-Archive) are read as folders.
    - Two pairs of files (say a/ and a/student/) are refused: we cannot guess which one you meant.
    - Only the two files are ever read out of a zip; nothing else is extracted. Caps on entries, sizes and depth
      keep a crafted upload from costing the grader more than a bounded amount of work.

Standard library only: packaging/run_grader.py uses it before anything heavy is importable.
"""
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from locked.submission import STUDENT_FILES, SubmissionError

MAX_DEPTH = 3            # folders between the upload's top and the two files
MAX_ENTRIES = 10_000     # files and folders looked at in a folder or listed in a zip
MAX_FILE_BYTES = 1_000_000  # a model.py over 1 MB is not source code
MAX_ZIP_BYTES = 200_000_000  # the upload itself
MAX_LISTED = 20          # ignored files named in the report; the rest are counted
SKIPPED_NAMES = {"__MACOSX", "__pycache__"}
HOW_TO = ("Submit model.py and train_config.py from your student/ folder: the two files on their own, the student/ "
          "folder, or a zip of it.")


@dataclass
class Upload:
    """What was found: the two files' bytes, where they were, and what else the upload held (ignored)."""
    files: dict
    where: str
    ignored: list = field(default_factory=list)
    ignored_count: int = 0
    folder: Path = None  # for a folder upload, the real folder holding the files (None for a zip)

    def ignored_summary(self):
        """The ignored files for a report, capped: a listing never grows with the upload."""
        more = self.ignored_count - len(self.ignored)
        return self.ignored + ([f"... and {more:,} more"] if more > 0 else [])


def _refuse(message):
    raise SubmissionError("files", f"{message} {HOW_TO}")


def _skipped(parts):
    return any(p in SKIPPED_NAMES or p.startswith(".") for p in parts)


def _pick(names, label):
    """The folder (posix, '' for the top) holding both student files, from the upload's relative file names."""
    found = {}
    for name in names:
        path = PurePosixPath(name)
        if path.name in STUDENT_FILES and not _skipped(path.parts):
            found.setdefault(str(path.parent) if str(path.parent) != "." else "", set()).add(path.name)
    pairs = sorted(d for d, files in found.items() if len(files) == len(STUDENT_FILES))
    deep = [d for d in pairs if len(PurePosixPath(d).parts) > MAX_DEPTH]
    pairs = [d for d in pairs if d not in deep]
    if len(pairs) > 1:
        _refuse(f"{label} holds model.py and train_config.py in {len(pairs)} places "
                f"({', '.join((d or '.') + '/' for d in pairs)}); keep only one copy.")
    if pairs:
        return pairs[0]
    if deep:
        _refuse(f"In {label}, model.py and train_config.py are {len(PurePosixPath(deep[0]).parts)} folders deep "
                f"({deep[0]}/); at most {MAX_DEPTH} are looked at.")
    alone = sorted(f"{d + '/' if d else ''}{f}" for d, files in found.items() for f in files)
    if alone:
        missing = [f for f in STUDENT_FILES if not any(a.endswith(f) for a in alone)]
        _refuse(f"{label} has {', '.join(alone)} but no {' or '.join(missing) or 'matching pair'} beside it.")
    shown = sorted(n for n in names if not _skipped(PurePosixPath(n).parts))[:MAX_LISTED]
    _refuse(f"Could not find model.py and train_config.py in {label} (found: {', '.join(shown) or 'nothing'}).")


def _ignored(names, where):
    kept = {str(PurePosixPath(where, f)) for f in STUDENT_FILES}
    rest = sorted(n for n in names if n not in kept and not _skipped(PurePosixPath(n).parts))
    return rest[:MAX_LISTED], len(rest)


def _walk(root):
    """Relative posix names of the regular files under `root`, never following links, within the caps."""
    names, seen, stack = [], 0, [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                _refuse(f"{root.name or root} holds more than {MAX_ENTRIES:,} files and folders.")
            if entry.is_symlink() or entry.name in SKIPPED_NAMES or entry.name.startswith("."):
                continue
            rel = Path(entry.path).relative_to(root).as_posix()
            if entry.is_dir(follow_symlinks=False):
                if depth < MAX_DEPTH + 1:
                    stack.append((Path(entry.path), depth + 1))
            elif entry.is_file(follow_symlinks=False):
                names.append(rel)
    return names


def _read_capped(read, name):
    data = read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        _refuse(f"{name} is over {MAX_FILE_BYTES:,} bytes; source files are smaller (do not paste weights or data "
                "into it).")
    return data


def _from_folder(root):
    names = _walk(root)
    try:
        where = _pick(names, "Your upload")
    except SubmissionError:
        zips = [n for n in names if "/" not in n and n.lower().endswith(".zip")]
        if len(zips) == 1 and not any(PurePosixPath(n).name in STUDENT_FILES for n in names):
            return _from_zip(root / zips[0])
        raise
    folder = root / where
    files = {}
    for name in STUDENT_FILES:
        path = folder / name
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            _refuse(f"{name} in your upload is not a regular file.")
        with open(path, "rb") as f:
            files[name] = _read_capped(f.read, name)
    ignored, count = _ignored(names, where)
    return Upload(files, where or ".", ignored, count, folder=folder)


def _zip_names(zf, label):
    """{normalised posix name: ZipInfo} of the zip's files; backslashes become folders, unsafe names are dropped."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        _refuse(f"{label} holds {len(infos):,} entries; the limit is {MAX_ENTRIES:,}.")
    names = {}
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if info.is_dir() or not parts or name.startswith("/") or ".." in parts or ":" in parts[0]:
            continue  # a folder, or a name that points outside the upload: never read, never listed
        names["/".join(parts)] = info
    return names


def _from_zip(path):
    label = path.name
    if path.stat().st_size > MAX_ZIP_BYTES:
        _refuse(f"{label} is {path.stat().st_size:,} bytes; uploads must be under {MAX_ZIP_BYTES:,}.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = _zip_names(zf, label)
            where = _pick(list(names), label)
            files = {}
            for name in STUDENT_FILES:
                info = names[str(PurePosixPath(where, name))]
                if info.flag_bits & 0x1:
                    _refuse(f"{name} in {label} is encrypted; make the zip again without a password.")
                with zf.open(info) as f:
                    files[name] = _read_capped(f.read, name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as err:
        _refuse(f"{label} could not be read as a zip ({type(err).__name__}: {err}); make the zip again.")
    ignored, count = _ignored(list(names), where)
    return Upload(files, where or ".", ignored, count)


def read(path):
    """The student's files in `path` (a folder or a zip), by the rule above; a SubmissionError says what is wrong."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        _refuse(f"The upload {path} does not exist.")
    if path.is_dir() and not path.is_symlink():
        return _from_folder(path)
    if path.is_file() and not path.is_symlink() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
        return _from_zip(path)
    _refuse(f"{path.name} is not a zip or a folder.")


def find_folder(path, scratch=None):
    """A folder holding the two files: a folder upload's own (imported in place, so tracebacks point at the
    student's files), or for a zip the two files written into `scratch`."""
    found = read(path)
    if found.folder is not None:
        return found.folder
    if scratch is None:
        raise SubmissionError("files", f"{Path(path).name} is a zip: unzip it first.")
    collect(path, scratch)
    return Path(scratch)


def collect(path, dest):
    """Write the two student files found in `path` into the folder `dest`; return the Upload."""
    found = read(path)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in found.files.items():
        (dest / name).write_bytes(data)
    return found
