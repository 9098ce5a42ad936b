"""The instructor's tools: they run on the instructor's machine, never on a grading box, and are never shipped in
an autograder.

    suite.py       `python -m instructor suite solutions/`: grade every experiment; the one reader and writer of
                   the suite's result folder
    report.py      `python -m instructor report runs/suite`: one self-contained HTML page from a suite run
    plots.py       the report's figures (matplotlib)
    deployment.py  the report's deployment view: ensembles and melanoma operating points
    package.py     `python -m instructor package`: the Gradescope and otter autograders, the student starter kit
"""
