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
      keep a crafted upload from costing the grader more than a bounded amount of work: a zip's entries are
      counted from its end record and central directory headers before zipfile parses any of them.
    - A zip listing model.py or train_config.py twice (say student/model.py and student\\model.py) is refused.
    - Whatever the upload holds (damaged streams, names that are not UTF-8, terminal escapes in names), the answer
      is a SubmissionError for the student, never another exception; every name it shows is escaped (locked.text).

Standard library only: packaging/run_grader.py uses it before anything heavy is importable.
"""
import os
import re
import stat
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from locked.submission import STUDENT_FILES, SubmissionError
from locked.text import shown

MAX_DEPTH = 3            # folders between the upload's top and the two files
MAX_ENTRIES = 10_000     # files and folders looked at in a folder or listed in a zip
MAX_FILE_BYTES = 1_000_000  # a model.py over 1 MB is not source code
MAX_ZIP_BYTES = 200_000_000  # the upload itself
MAX_LISTED = 20          # ignored files named in the report; the rest are counted
MAX_NAME = 200           # characters of one name (or error) in a message
SKIPPED_NAMES = {"__MACOSX", "__pycache__"}
_DRIVE = re.compile(r"[A-Za-z]:.*")  # a Windows drive (C:, C:foo): outside the upload; other colons are names
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


_END = struct.Struct("<4s4H2LH")             # end of central directory record
_END64 = struct.Struct("<4sQ2H2L4Q")          # zip64 end of central directory record
_LOCATOR = 20                                 # bytes of the zip64 locator, between the two end records
_CENTRAL = 46                                 # bytes of a central directory header before its name


def _refuse(message):
    raise SubmissionError("files", f"{message} {HOW_TO}")


def _name(text):
    """A name the student chose, safe to put in a message: escaped, on one line, capped."""
    return shown(text, MAX_NAME, one_line=True)


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
                f"({', '.join(_name((d or '.') + '/') for d in pairs[:MAX_LISTED])}); keep only one copy.")
    if pairs:
        return pairs[0]
    if deep:
        _refuse(f"In {label}, model.py and train_config.py are {len(PurePosixPath(deep[0]).parts)} folders deep "
                f"({_name(deep[0] + '/')}); at most {MAX_DEPTH} are looked at.")
    alone = sorted(f"{d + '/' if d else ''}{f}" for d, files in found.items() for f in files)
    if alone:
        missing = [f for f in STUDENT_FILES if not any(a.endswith(f) for a in alone)]
        _refuse(f"{label} has {', '.join(map(_name, alone[:MAX_LISTED]))} but no "
                f"{' or '.join(missing) or 'matching pair'} beside it.")
    listed = sorted(n for n in names if not _skipped(PurePosixPath(n).parts))[:MAX_LISTED]
    _refuse(f"Could not find model.py and train_config.py in {label} "
            f"(found: {', '.join(map(_name, listed)) or 'nothing'}).")


def _ignored(names, where):
    """The upload's other files, escaped (they reach reports, HTML and CSV), capped in number (results.py caps
    each one's length)."""
    kept = {str(PurePosixPath(where, f)) for f in STUDENT_FILES}
    rest = sorted(n for n in names if n not in kept and not _skipped(PurePosixPath(n).parts))
    return [shown(n, one_line=True) for n in rest[:MAX_LISTED]], len(rest)


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
                _refuse(f"{_name(root.name or str(root))} holds more than {MAX_ENTRIES:,} files and folders.")
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
    try:
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
    except OSError as err:  # a file the grader may not read (its permissions came with the upload)
        _refuse(f"Your upload could not be read ({_error(err)}).")
    ignored, count = _ignored(names, where)
    return Upload(files, _name(where or "."), ignored, count, folder=folder)


def _error(err):
    """`err` for a message: its type (zlib.error, lzma.LZMAError, OSError) and its text, escaped."""
    kind = type(err).__name__
    if type(err).__module__ != "builtins":
        kind = f"{type(err).__module__.lstrip('_')}.{kind}"
    return f"{kind}: {_name(str(err))}"


def _directory(f):
    """(entries the end record lists, where the central directory starts, its size), found the way zipfile finds
    them, so what is counted here is what zipfile would parse; None where there is no end record."""
    size = f.seek(0, 2)
    base = f.seek(max(size - _END.size - (1 << 16), 0))
    tail = f.read()
    at = len(tail) - _END.size  # a zip without a comment ends with its end record
    if not (at >= 0 and tail.startswith(b"PK\x05\x06", at) and tail.endswith(b"\0\0")):
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _END.size > len(tail):
        return None
    entries, length = _END.unpack_from(tail, at)[4:6]
    location = base + at
    if location >= _LOCATOR + _END64.size:
        f.seek(location - _LOCATOR - _END64.size)
        record = f.read(_END64.size)
        if f.read(4) == b"PK\x06\x07" and record.startswith(b"PK\x06\x06"):
            entries, length = _END64.unpack(record)[7:9]
            location -= _LOCATOR + _END64.size
    return entries, location - length, length


def _count_entries(f, start, length):
    """The central directory headers zipfile would parse, counted from their fixed parts up to MAX_ENTRIES + 1."""
    count = total = 0
    while total < length and count <= MAX_ENTRIES and start >= 0:
        f.seek(start + total)
        header = f.read(_CENTRAL)
        if len(header) < _CENTRAL or not header.startswith(b"PK\x01\x02"):
            break  # zipfile refuses a truncated or garbled directory itself
        total += _CENTRAL + sum(struct.unpack_from("<3H", header, 28))
        count += 1
    return count


def _zip_names(zf, label):
    """{normalised posix name: ZipInfo} of the zip's files; backslashes become folders, unsafe names are dropped.
    A student file listed twice is refused: zipfile would silently keep the last copy, maybe not the one meant."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        _refuse(f"{label} holds {len(infos):,} entries; the limit is {MAX_ENTRIES:,}.")
    names = {}
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.endswith("/") or not parts or name.startswith("/") or ".." in parts or _DRIVE.fullmatch(parts[0]):
            continue  # a folder, or a name that points outside the upload (C:/...): never read, never listed
        key = "/".join(parts)
        if key in names and parts[-1] in STUDENT_FILES and not _skipped(parts):
            _refuse(f"{label} holds {_name(key)} twice, as {_name(names[key].filename)} and {_name(info.filename)}; "
                    "the grader cannot guess which one you meant: keep only one.")
        names[key] = info
    return names


def _from_zip(path):
    """The two files in the zip (or a file that may be one) at `path`: its entries are counted from the end record
    and the central directory's headers before zipfile parses any, and any failure reading it is the student's."""
    label = _name(path.name)
    try:
        with open(path, "rb") as raw:
            directory = _directory(raw)
            if directory is None and path.suffix.lower() != ".zip":
                _refuse(f"{label} is not a zip or a folder.")
            size = raw.seek(0, 2)
            if size > MAX_ZIP_BYTES:
                _refuse(f"{label} is {size:,} bytes; uploads must be under {MAX_ZIP_BYTES:,}.")
            if directory and directory[0] > MAX_ENTRIES:
                _refuse(f"{label} holds {directory[0]:,} entries; the limit is {MAX_ENTRIES:,}.")
            if directory and _count_entries(raw, *directory[1:]) > MAX_ENTRIES:
                _refuse(f"{label} holds more than {MAX_ENTRIES:,} entries; the limit is {MAX_ENTRIES:,}.")
            with zipfile.ZipFile(raw) as zf:
                names = _zip_names(zf, label)
                where = _pick(list(names), label)
                files = {}
                for name in STUDENT_FILES:
                    info = names[str(PurePosixPath(where, name))]
                    if info.flag_bits & 0x1:
                        _refuse(f"{name} in {label} is encrypted; make the zip again without a password.")
                    with zf.open(info) as f:
                        files[name] = _read_capped(f.read, name)
    except SubmissionError:
        raise
    except Exception as err:  # noqa: BLE001  zlib.error, LZMAError, BadZipFile...: each byte is the student's
        _refuse(f"{label} could not be read as a zip ({_error(err)}); make the zip again.")
    ignored, count = _ignored(list(names), where)
    return Upload(files, _name(where or "."), ignored, count)


def read(path):
    """The student's files in `path` (a folder or a zip), by the rule above; a SubmissionError says what is wrong."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        _refuse(f"The upload {_name(str(path))} does not exist.")
    if path.is_dir() and not path.is_symlink():
        return _from_folder(path)
    if path.is_file() and not path.is_symlink():
        return _from_zip(path)
    _refuse(f"{_name(path.name)} is not a zip or a folder.")


def find_folder(path, scratch=None):
    """A folder holding the two files: a folder upload's own (imported in place, so tracebacks point at the
    student's files), or for a zip the two files written into `scratch`."""
    found = read(path)
    if found.folder is not None:
        return found.folder
    if scratch is None:
        raise SubmissionError("files", f"{_name(Path(path).name)} is a zip: unzip it first.")
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
