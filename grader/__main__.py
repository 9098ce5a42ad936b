"""Command line: `python -m grader grade SUBMISSION [--out DIR] [--rubric FILE] [--data-dir DIR | --synthetic]
[--test-data FILE]`.

The grading runtime only: the instructor's tools (suite, report, package) are `python -m instructor`.
"""
import argparse
import sys
import time
from pathlib import Path

from grader import results, rubric as rubric_mod
from grader.preflight import EnvironmentUnusable
from locked.data import DataUnavailable


def _grade(args):
    from grader.grade import grade

    t0 = time.monotonic()
    try:
        record = grade(args.submission, args.out, args.rubric, args.data_dir, args.synthetic,
                       test_data=args.test_data, time_limit_s=args.time_limit, memory_limit_mb=args.memory_limit,
                       device=args.device)
    except (DataUnavailable, EnvironmentUnusable) as err:  # the instructor's setup, not the student's code
        print(results.write_crash(args.out, err, time.monotonic() - t0), file=sys.stderr)
        return 2
    except BaseException as err:  # a bug in the grader: still leave a valid results.json behind
        print(results.write_crash(args.out, err, time.monotonic() - t0), file=sys.stderr)
        raise
    print(results.report_card(record, student=True))  # a log may reach students: what they may see, no more
    print(f"\nWrote into {Path(args.out)}: for the student, results.json (Gradescope's), report.txt and report.html "
          "(this card); for the instructor only, grading_record.json and instructor_report.txt (every check with its "
          "visibility, the sandbox, the integrity review)")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m grader")
    cmds = ap.add_subparsers(dest="command", required=True)
    g = cmds.add_parser("grade", help="train and score one submission in a sandbox")
    g.add_argument("submission", help="folder or zip holding model.py and train_config.py (or student/)")
    g.add_argument("--out", default="results", help="where results.json goes (default: results/)")
    g.add_argument("--rubric", help="rubric TOML overriding grader/rubric.toml")
    g.add_argument("--data-dir", help="folder holding dermamnist.npz")
    g.add_argument("--synthetic", action="store_true", help="grade on the synthetic stand-in (offline)")
    g.add_argument("--test-data", help="a private test file (medmnist-format .npz: test_images, test_labels) that "
                   "students do not have; overrides the rubric's [test] data")
    g.add_argument("--time-limit", type=float, help="override the rubric's time_limit_s")
    g.add_argument("--memory-limit", type=float, help="override the rubric's memory_limit_mb")
    g.add_argument("--device", choices=rubric_mod.DEVICES, help="train on the CPU or an NVIDIA GPU (default: the "
                   "rubric's device, cpu)")
    g.set_defaults(run=_grade)
    args = ap.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
