"""Property tests of locked/upload.py (issue 21): whatever bytes, streams or names a student uploads, upload.read
returns an Upload or refuses with the student's SubmissionError ("files"), never another exception (which the
student would read as "the autograder failed"), and every name it shows is already escaped."""
import io
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from locked import upload
from locked.submission import STUDENT_FILES, SubmissionError
from locked.text import shown

HONEST = Path(__file__).resolve().parent / "grader_submissions" / "honest"
TWO = {n: (HONEST / n).read_bytes() for n in STUDENT_FILES}
METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
SIGNATURES = [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x07\x08"]


def fuzz(examples):
    """A fixed, reproducible budget (the whole file runs in about 20 s) that writes nothing into the repository."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


def _answer(path):
    """upload.read's answer, checked: the Upload, or None for the student's refusal; every text in it escaped."""
    try:
        found = upload.read(path)
    except SubmissionError as err:
        assert err.check == "files"
        found, texts = None, [str(err)]
    else:
        texts = [found.where, *found.ignored_summary()]
    assert [shown(t, one_line=True) for t in texts] == texts
    return found


def _zip(entries, method=zipfile.ZIP_DEFLATED):
    """The bytes of a zip of `entries` [(name, data)], each name written as given (duplicates too)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as zf:
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name, which is the point
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = method  # a ZipInfo is stored whatever the ZipFile's own method
            zf.writestr(info, data)
    return buffer.getvalue()


def _written(tmp, data, name="s.zip"):
    path = Path(tmp, name)
    path.write_bytes(data)
    return path


def _folder(root, entries):
    """Write `entries` [(name parts as bytes, data)] under `root`; one the filesystem refuses (a file where a folder
    is, or the reverse) is left out, as a student could not have uploaded it either."""
    for parts, data in entries:
        path = os.path.join(os.fsencode(root), *parts)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "xb") as f:
                f.write(data)
        except OSError:
            continue
    return root


# names: any text (control characters, escapes, bidi, colons), the parts the rule looks at, both separators
CHARS = st.one_of(st.characters(codec="utf-8"), st.sampled_from("\n\r\t\x1b\x00\u202e\ufeff:\\/."))
PART = st.one_of(st.text(CHARS, max_size=12),
                 st.sampled_from(["", ".", "..", "student", *STUDENT_FILES, "__MACOSX", "__pycache__", ".git", "C:"]))
ZIP_NAME = st.builds(lambda lead, parts, sep: lead + sep.join(parts), st.sampled_from(["", "/", "./", "\\", "../"]),
                     st.lists(PART, min_size=1, max_size=5), st.sampled_from(["/", "\\"]))
SAFE_PART = st.text(st.characters(codec="utf-8", exclude_characters="/\\\0:"), min_size=1, max_size=10).filter(
    lambda p: not p.startswith(".") and p not in upload.SKIPPED_NAMES)
FOLDER_PART = st.one_of(
    st.binary(min_size=1, max_size=20).map(lambda b: b.replace(b"/", b"_").replace(b"\0", b"_")),
    st.sampled_from([b"student", *map(str.encode, STUDENT_FILES), b"__pycache__", b".git", b"s.zip", b"\xff\xfe",
                     b"x\n[PASS]\x1b[32m"])).filter(lambda b: b not in (b".", b".."))
SAFE_FOLDER_PART = FOLDER_PART.filter(lambda b: not b.startswith(b".") and os.fsdecode(b) not in upload.SKIPPED_NAMES)


def _not_ours(name):
    """True when no folder or file in `name` is a student file's name (zipfile cuts a name at a NUL)."""
    return not set(re.split(r"[/\\]", name.split("\0")[0])) & set(STUDENT_FILES)


@fuzz(800)
@given(st.one_of(st.binary(max_size=2000),
                 st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(SIGNATURES)), max_size=12).map(b"".join)))
def test_any_bytes_as_a_zip(data):
    """Any file named .zip, random or strewn with zip signatures, is read or refused as the student's."""
    with tempfile.TemporaryDirectory() as tmp:
        _answer(_written(tmp, data))


BASES = {m: _zip([*TWO.items(), ("student/notes.txt", b"n" * 100)], m) for m in METHODS}


@fuzz(1500)
@given(st.sampled_from(METHODS), st.data())
def test_a_damaged_zip(method, data):
    """Damaged streams, local headers, central directory and end records, in every compression zipfile reads."""
    raw = bytearray(BASES[method])
    start = data.draw(st.one_of(st.integers(0, len(raw) - 1), st.integers(len(raw) - 300, len(raw) - 1)))
    patch = data.draw(st.binary(min_size=1, max_size=64))
    raw[start:start + len(patch)] = patch
    with tempfile.TemporaryDirectory() as tmp:
        _answer(_written(tmp, bytes(raw)))


@fuzz(600)
@given(st.lists(st.tuples(ZIP_NAME, st.binary(max_size=32)), max_size=8), st.sampled_from(METHODS),
       st.sampled_from([None, "", "student/", "a\\b\\"]))
def test_any_entry_names_in_a_zip(entries, method, two_in):
    """Control characters, backslashes, .., absolute paths and duplicates, with or without the two files."""
    if two_in is not None:
        entries = entries + [(two_in + name, data) for name, data in TWO.items()]
    with tempfile.TemporaryDirectory() as tmp:
        _answer(_written(tmp, _zip(entries, method)))


@fuzz(300)
@given(st.lists(st.tuples(st.lists(FOLDER_PART, min_size=1, max_size=5), st.binary(max_size=32)), max_size=8))
def test_any_names_in_a_folder(entries):
    """Names that are not UTF-8, escapes, a lone zip of junk; the student files anywhere, with any bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        _answer(_folder(Path(tmp, "up"), entries))


@fuzz(400)
@given(st.lists(SAFE_PART, max_size=upload.MAX_DEPTH), st.sampled_from(["/", "\\"]), st.binary(max_size=200),
       st.binary(max_size=200), st.lists(st.tuples(ZIP_NAME.filter(_not_ours), st.binary(max_size=16)), max_size=6),
       st.sampled_from(METHODS), st.data())
def test_the_two_files_once_in_a_zip_are_found_exactly(prefix, sep, model, config, others, method, data):
    """Whatever else the zip holds and in whatever order, the one pair within MAX_DEPTH is found, byte for byte."""
    entries = others + [(sep.join([*prefix, "model.py"]), model), (sep.join([*prefix, "train_config.py"]), config)]
    with tempfile.TemporaryDirectory() as tmp:
        found = _answer(_written(tmp, _zip(data.draw(st.permutations(entries)), method)))
    assert found is not None and found.files == {"model.py": model, "train_config.py": config}
    assert found.where == shown("/".join(prefix) or ".", upload.MAX_NAME, one_line=True)


@fuzz(200)
@given(st.lists(SAFE_FOLDER_PART, max_size=upload.MAX_DEPTH), st.binary(max_size=200), st.binary(max_size=200),
       st.lists(st.tuples(st.lists(FOLDER_PART.filter(lambda b: os.fsdecode(b) not in STUDENT_FILES), min_size=1,
                                   max_size=5), st.binary(max_size=16)), max_size=6))
def test_the_two_files_once_in_a_folder_are_found_exactly(prefix, model, config, others):
    """Folders named with any bytes lead to the one pair within MAX_DEPTH, read in place, byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _folder(Path(tmp, "up"), [([*prefix, b"model.py"], model), ([*prefix, b"train_config.py"], config),
                                         *others])
        found = _answer(root)
        assert found is not None and found.files == {"model.py": model, "train_config.py": config}
        assert found.folder == Path(os.fsdecode(os.path.join(os.fsencode(root), *prefix)))
