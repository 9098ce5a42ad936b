"""The one submission-discovery rule (locked/upload.py): a table of upload layouts, and the same verdict on every
path that grades or checks an upload (the grader's command line, run_grader.py, the public checks)."""
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from locked import upload
from locked.submission import SubmissionError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HONEST = HERE / "grader_submissions" / "honest"
TWO = {n: (HONEST / n).read_bytes() for n in ("model.py", "train_config.py")}


def _folder(root, prefix, extra=None):
    for name, data in {**{f"{prefix}{n}": d for n, d in TWO.items()}, **(extra or {})}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _write(path, data):
    """Write one file (making its folder); return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _zip(path, prefix, extra=None, sep="/"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**{f"{prefix}{n}": d for n, d in TWO.items()}, **(extra or {})}.items():
            zf.writestr(name.replace("/", sep), data)
    return path


def _appended(path, name, data):
    """The zip at `path` with one more entry named exactly `name` (writestr(str) refuses or changes some names)."""
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(zipfile.ZipInfo(name), data)
    return path


ACCEPTED = {  # layout -> (builder(tmp) -> upload path, where the files are reported, ignored files)
    "flat folder": (lambda t: _folder(t / "up", ""), ".", []),
    "folder with student/": (lambda t: _folder(t / "up", "student/", {"README.md": b"x"}), "student", ["README.md"]),
    "nested folder up/a/student/": (lambda t: _folder(t / "up", "a/b/student/"), "a/b/student", []),
    "lone zip in a folder": (lambda t: _zip(t / "up" / "hw.zip", "student/").parent, "student", []),
    "zip, files flat": (lambda t: _zip(t / "s.zip", "", {"notes.txt": b"n"}), ".", ["notes.txt"]),
    "zip of student/": (lambda t: _zip(t / "s.zip", "student/"), "student", []),
    "zip of Downloads/x/student/": (lambda t: _zip(t / "s.zip", "Downloads/x/student/"), "Downloads/x/student", []),
    "zip with __MACOSX entries": (lambda t: _zip(t / "s.zip", "student/", {"__MACOSX/student/._model.py": b"\0",
                                                                           "__MACOSX/student/model.py": b"\0",
                                                                           "__MACOSX/student/train_config.py": b"\0"}),
                                  "student", []),
    "zip with backslash paths (PowerShell 5.1)": (lambda t: _zip(t / "s.zip", "student/", sep="\\"), "student", []),
    "zip with a path escape": (lambda t: _zip(t / "s.zip", "", {"../../escaped.py": b"x"}), ".", []),
    "zip with an empty entry name": (lambda t: _appended(_zip(t / "s.zip", ""), "", b"x"), ".", []),  # IndexError
}

REFUSED = {  # layout -> (builder, words the refusal must contain)
    "duplicates at two depths": (lambda t: _folder(_folder(t / "up", "a/"), "a/student/"), "in 2 places"),
    "zipped duplicates": (lambda t: _zip(t / "s.zip", "a/", {f"a/student/{n}": d for n, d in TWO.items()}),
                          "in 2 places"),
    "too deep": (lambda t: _folder(t / "up", "a/b/c/d/"), "4 folders deep"),
    "one file only": (lambda t: _write(t / "up" / "model.py", TWO["model.py"]).parent, "no train_config.py"),
    "nothing of ours": (lambda t: _write(t / "up" / "my_model.py", b"1").parent, "found: my_model.py"),
    "corrupt zip": (lambda t: _write(t / "s.zip", _zip(t / "ok.zip", "").read_bytes()[:-30]),
                    "could not be read as a zip"),
    "not a zip": (lambda t: _write(t / "model.txt", b"x"), "is not a zip or a folder"),
    "file over 1 MB": (lambda t: _zip(t / "s.zip", "", {"model.py": b"#" * 2_000_000}),
                       "over 1,000,000 bytes"),
    "too many entries": (lambda t: _zip(t / "s.zip", "", {f"f{i}": b"" for i in range(upload.MAX_ENTRIES + 1)}),
                         "entries; the limit is"),
}


@pytest.mark.parametrize("layout", ACCEPTED)
def test_accepted_layouts(layout, tmp_path):
    build, where, ignored = ACCEPTED[layout]
    found = upload.collect(build(tmp_path), tmp_path / "dest")
    assert found.where == where and found.ignored_summary() == ignored
    assert {p.name: p.read_bytes() for p in (tmp_path / "dest").iterdir()} == TWO
    assert not (tmp_path / "escaped.py").exists()


@pytest.mark.parametrize("layout", REFUSED)
def test_refused_layouts_say_why_and_how(layout, tmp_path):
    build, words = REFUSED[layout]
    with pytest.raises(SubmissionError) as err:
        upload.read(build(tmp_path))
    assert words in str(err.value) and "Submit model.py and train_config.py" in str(err.value)


def test_an_encrypted_zip_is_refused(tmp_path):
    path = _zip(tmp_path / "s.zip", "")
    raw = bytearray(path.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" bit in every header
        start = 0
        while (start := raw.find(sig, start)) >= 0:
            raw[start + flag_at] |= 1
            start += 4
    path.write_bytes(bytes(raw))
    with pytest.raises(SubmissionError, match="encrypted; make the zip again without a password"):
        upload.read(path)


def test_a_compressed_bomb_costs_only_what_is_read(tmp_path):
    """A 1 GB model.py that compresses to a few MB is refused after reading 1 MB of it; nothing is extracted."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("model.py", "w", force_zip64=True) as f:
            for _ in range(1024):
                f.write(b"#" * (1 << 20))
        zf.writestr("train_config.py", b"")
    assert path.stat().st_size < 5_000_000
    with pytest.raises(SubmissionError, match="over 1,000,000 bytes"):
        upload.read(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


@pytest.mark.parametrize("escape", ["../../escaped.py", "../scratch-sibling/escaped.py", "/tmp/escaped.py",
                                    "..\\..\\escaped.py"], ids=["parent", "sibling", "absolute", "backslashes"])
def test_zip_entries_that_point_outside_are_never_written_nor_listed(escape, tmp_path):
    """Nothing but the two files is ever written, and an escaping name is not even listed as ignored."""
    path = _appended(_zip(tmp_path / "box" / "s.zip", "", {}), escape, b"print('escaped')\n")
    found = upload.collect(path, tmp_path / "box" / "dest")
    assert found.ignored_summary() == [] and list(tmp_path.rglob("escaped.py")) == []


def test_the_ignored_list_is_capped(tmp_path):
    found = upload.read(_zip(tmp_path / "s.zip", "", {f"junk/{i:04}.txt": b"" for i in range(5000)}))
    summary = found.ignored_summary()
    assert len(summary) == upload.MAX_LISTED + 1 and summary[-1] == f"... and {5000 - upload.MAX_LISTED:,} more"


def test_symlinks_in_a_folder_upload_are_not_followed(tmp_path):
    up = tmp_path / "up"
    (up / "student").mkdir(parents=True)
    secret = tmp_path / "secret.py"
    secret.write_text("labels = 1\n")
    (up / "student" / "model.py").symlink_to(secret)
    (up / "student" / "train_config.py").write_bytes(TWO["train_config.py"])
    with pytest.raises(SubmissionError, match="no model.py"):
        upload.read(up)


# --- whatever the upload holds, the verdict is the student's, and names are shown escaped (issue 21) -------------

def _damaged(path, method, skip=0):
    """A zip of the two files whose model.py stream is overwritten just past its local header (`skip` bytes of
    the method's own header kept): the headers and the central directory stay valid, only the stream is broken."""
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in TWO.items():
            zf.writestr(name, data)
    raw = bytearray(path.read_bytes())
    start = 30 + sum(struct.unpack_from("<2H", raw, 26)) + skip  # model.py's local header is first
    raw[start:start + 8] = b"\xff" * 8
    return _write(path, bytes(raw))


@pytest.mark.parametrize("method, skip, error", [(zipfile.ZIP_DEFLATED, 0, "zlib.error"),
                                                 (zipfile.ZIP_LZMA, 9, "lzma.LZMAError"),
                                                 (zipfile.ZIP_BZIP2, 0, "OSError")], ids=["deflate", "lzma", "bzip2"])
def test_a_damaged_compressed_stream_is_the_students_zip(method, skip, error, tmp_path):
    """zlib.error and LZMAError escaped upload.read: the student read "the autograder failed" for their own zip."""
    with pytest.raises(SubmissionError) as err:
        upload.read(_damaged(tmp_path / "s.zip", method, skip))
    assert f"s.zip could not be read as a zip ({error}: " in str(err.value) and "make the zip again" in str(err.value)


def _many_entries(path, count, listed):
    """A zip of `count` empty stored files whose end records (zip64 ones too) list `listed` entries, written
    directly: zipfile would take a minute for 400,000 entries."""
    local, central = bytearray(), bytearray()
    for i in range(count):
        name = b"f%d" % i
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0,
                               len(local)) + name
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
    end64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, listed, listed, len(central), len(local))
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + len(central), 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(listed, 0xFFFF), min(listed, 0xFFFF), len(central),
                      len(local), 0)
    return _write(path, bytes(local + central + end64 + locator + end))


def _listing(path, listed):
    """A real zip of the two files whose end record lists `listed` entries."""
    raw = bytearray(_zip(path, "").read_bytes())
    struct.pack_into("<2H", raw, raw.rfind(b"PK\x05\x06") + 8, listed, listed)
    return _write(path, bytes(raw))


@pytest.mark.parametrize("build", [lambda p: _listing(p, 60_000), lambda p: _many_entries(p, 400_000, 400_000),
                                   lambda p: _many_entries(p, 400_000, 1)],
                         ids=["end record lists 60,000", "400,000 entries (zip64)", "400,000 entries listed as 1"])
def test_a_zip_of_too_many_entries_is_refused_before_zipfile_parses_them(build, tmp_path):
    """zipfile parsed all 400,000 entries (270 MB) before the count was checked; the end record and the central
    directory's headers now refuse it for a few kB, whatever count the end record claims."""
    path = build(tmp_path / "s.zip")
    tracemalloc.start()
    try:
        with pytest.raises(SubmissionError, match="entries; the limit is 10,000"):
            upload.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"{peak:,} bytes"


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("first", ["student/model.py", "student\\model.py", "./student/model.py"])
def test_a_student_file_listed_twice_is_refused_naming_both(first, tmp_path):
    """zipfile kept the last of two entries that both read as student/model.py: maybe not the one meant."""
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in [(first, b"# first"), *((f"student/{n}", d) for n, d in TWO.items())]:
            zf.writestr(name, data)
    with pytest.raises(SubmissionError) as err:
        upload.read(path)
    assert f"as {first} and student/model.py; the grader cannot guess which one you meant" in str(err.value)


EVIL = "x\n[PASS] Model builds 5 of 5\x1b[32m\r\u202e.py"  # a forged report line, recoloured, overwritten, reversed


def _upload_of(root, form, entries):
    """`entries` ({name: bytes}) as a zip or as a folder upload under `root`."""
    if form == "folder":
        for name, data in entries.items():
            _write(root / "up" / name, data)
        return root / "up"
    root.mkdir(parents=True)
    with zipfile.ZipFile(root / "s.zip", "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return root / "s.zip"


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_a_name_with_terminal_escapes_is_shown_escaped(form, tmp_path):
    """A file name could forge a "[PASS]" line in report.txt or recolour a terminal: every name shown is escaped."""
    escaped = r"x\n[PASS] Model builds 5 of 5\x1b[32m\r\u202e.py"
    assert upload.read(_upload_of(tmp_path / "ok", form, {**TWO, EVIL: b"#"})).ignored_summary() == [escaped]
    with pytest.raises(SubmissionError) as err:
        upload.read(_upload_of(tmp_path / "refused", form, {EVIL: b"#"}))
    assert f"(found: {escaped})" in str(err.value)


def test_a_folder_name_that_is_not_utf8_is_shown_escaped(tmp_path):
    """Python reads such a name with lone surrogates, which no report can encode: it is listed escaped."""
    up, alone = _folder(tmp_path / "up", ""), tmp_path / "alone"
    alone.mkdir()
    for name in (os.fsencode(up) + b"/\xff\xfe notes.py", os.fsencode(alone) + b"/\xff.py"):
        os.close(os.open(name, os.O_CREAT | os.O_WRONLY))
    assert upload.read(up).ignored_summary() == [r"\udcff\udcfe notes.py"]
    with pytest.raises(SubmissionError, match=r"\(found: \\udcff\.py\)"):
        upload.read(alone)


def test_a_zip_name_that_is_not_utf8_is_the_students_zip(tmp_path):
    """A name flagged as UTF-8 that is not makes zipfile raise UnicodeDecodeError: the zip is to be made again."""
    raw = _zip(tmp_path / "ok.zip", "", {"\u00e9.txt": b""}).read_bytes()  # flagged UTF-8 in both headers
    path = _write(tmp_path / "s.zip", raw.replace("\u00e9".encode(), b"\xff\xfe"))
    with pytest.raises(SubmissionError, match=r"could not be read as a zip \(UnicodeDecodeError: 'utf-8' codec"):
        upload.read(path)


# --- the same verdict on every path ------------------------------------------------------------------------------

@pytest.fixture
def duplicate_zip(tmp_path):
    return REFUSED["zipped duplicates"][0](tmp_path)


def test_grader_command_line_refuses_by_the_rule(duplicate_zip, tmp_path, synthetic_root):
    env = {**os.environ, "DERMA_SYNTHETIC_SCALE": "0.2"}
    subprocess.run([sys.executable, "-m", "grader", "grade", str(duplicate_zip), "--synthetic", "--data-dir",
                    str(synthetic_root), "--out", str(tmp_path / "out")], cwd=REPO, env=env, check=True,
                   capture_output=True, timeout=300)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["score"] == 0 and any("in 2 places" in t["output"] for t in results["tests"])


def test_run_grader_refuses_by_the_rule(duplicate_zip, tmp_path, synthetic_root):
    env = {**os.environ, "DERMA_SYNTHETIC": "1", "DERMA_SYNTHETIC_SCALE": "0.2", "DERMA_DATA_DIR": str(synthetic_root)}
    subprocess.run([sys.executable, str(REPO / "packaging" / "run_grader.py"), "--submission", str(duplicate_zip),
                    "--results", str(tmp_path / "res")], cwd=tmp_path, env=env, check=True, capture_output=True,
                   timeout=300)
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert results["score"] == 0 and any("in 2 places" in t["output"] for t in results["tests"])


def _public_checks(target):
    return subprocess.run([sys.executable, "-m", "pytest", "tests/", "-q", "-k", "builds", "--submission",
                           str(target)], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_public_checks_refuse_by_the_rule(duplicate_zip):
    proc = _public_checks(duplicate_zip)
    assert proc.returncode != 0 and "in 2 places" in proc.stdout


def test_public_checks_read_a_nested_zip_like_the_grader(tmp_path):
    proc = _public_checks(ACCEPTED["zip of Downloads/x/student/"][0](tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:]
