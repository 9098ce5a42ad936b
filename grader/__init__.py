"""The isolated grader: train a submission in a sandboxed child process and score it in this one.

    __main__.py  the command line: `python -m grader grade` (the only subcommand on a grading box)
    sandbox.py   run the child: bubblewrap view, a uid per grading, memory cgroup, time/memory/output limits
    child.py     what runs inside the sandbox: locked loop on train/val, predictions for unlabeled test images
    protocol.py  the child's contract: its report's stages, fields, sizes and cleaner (read_report, clean_status),
                 raw predictions and parameter shapes checked byte for byte, as_probabilities
    rubric.py    instructor-editable checks, points and limits (grader/rubric.toml), checked into one object
    scoring.py   every check and every metric, computed here, from what the child returned
    integrity.py held-out integrity: private test file, public/private split, the grader's synthetic draw,
                 perturbed copies mixed into the test rows, memorization flags for review
    results.py   Gradescope results.json (+ leaderboard), the student's report card (report.txt, .html), the
                 instructor's report and the full record
    resultfile.py  results.json's schema, the fallback result, the atomic writer (stdlib only: run_grader uses it)
    grade.py     `python -m grader grade`: intake (locked/upload.py), sandbox, scoring, results, in order

Trust: this process never imports student code (nor torch). It holds the test labels; the child never sees them.
"""
