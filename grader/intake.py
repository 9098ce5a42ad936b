"""Accept what students upload: the two files flat, a folder, a folder with student/, or a zip of any of these.

Only model.py and train_config.py are kept; everything else (a locked/ folder, results files, notebooks) is
listed as ignored and never copied, so a submission cannot shadow the grader's own code.
"""
import shutil
import zipfile
from pathlib import Path

from locked.submission import STUDENT_FILES, SubmissionError, find_folder

MAX_FILE_BYTES = 1_000_000  # a model.py over 1 MB is not source code


def _unzip(path, dest):
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(dest.resolve()):  # "zip slip": ../../ paths, a sibling sharing the prefix
                continue
            if info.file_size > 50 * MAX_FILE_BYTES:
                continue
            zf.extract(info, dest)
    return dest


def _all_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def collect(submission, dest, scratch):
    """Copy the two student files from `submission` into `dest`; return the list of ignored files."""
    submission = Path(submission)
    if not submission.exists():
        raise SubmissionError("files", f"Submission {submission} does not exist.")
    if submission.is_file() and zipfile.is_zipfile(submission):
        submission = _unzip(submission, Path(scratch))
        entries = [p for p in submission.iterdir() if p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir():  # zipped a folder: look inside it
            submission = entries[0]
    elif submission.is_file():
        raise SubmissionError("files", f"{submission.name} is not a zip or a folder. Upload model.py and "
                              "train_config.py, or a zip of your student/ folder.")
    folder = find_folder(submission)
    dest.mkdir(parents=True, exist_ok=True)
    for name in STUDENT_FILES:
        src = folder / name
        if src.stat().st_size > MAX_FILE_BYTES:
            raise SubmissionError("files", f"{name} is {src.stat().st_size:,} bytes; source files must be under "
                                  f"{MAX_FILE_BYTES:,}. Do not paste weights or data into it.")
        shutil.copyfile(src, dest / name)
    kept = {str((folder / n).relative_to(submission)) for n in STUDENT_FILES}
    return [f for f in _all_files(submission) if f not in kept and "__pycache__" not in f]
