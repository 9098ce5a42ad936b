"""The isolated grader: train a submission in a sandboxed child process and score it in this one.

    intake.py    accept a folder or zip, keep only model.py + train_config.py, list what was ignored
    sandbox.py   run the child: empty dir, unprivileged user, no network, time/memory/output limits
    child.py     what runs inside the sandbox: locked loop on train/val, predictions for unlabeled test images
    rubric.py    instructor-editable checks, points and limits (grader/rubric.toml)
    scoring.py   every check and every metric, computed here, from what the child returned
    results.py   Gradescope results.json (+ leaderboard), the report card, the full record
    grade.py     `python -m grader grade`: the steps above, in order, and a results.json on every path

Trust: this process never imports student code (nor torch). It holds the test labels; the child never sees them.
"""
