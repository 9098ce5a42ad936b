"""The instructor's tools: they run on the instructor's machine, never on a grading box, and are never shipped in
an autograder.

    suite.py       `python -m instructor suite solutions/`: grade every experiment, N at a time, resumably (the
                   runner grade-class shares)
    runs.py        the one reader and writer of a suite's (or class's) result folder: its files, its gradings as
                   table rows
    worker.py      one grading per worker process: what the suite and grade-class run N of at once
    classroom.py   `python -m instructor grade-class EXPORT`: a class export graded in parallel, a gradebook CSV
                   and a class report
    report.py      `python -m instructor report runs/suite`: one self-contained HTML page from a suite run
    plots.py       the report's figures (matplotlib)
    deployment.py  the report's deployment view: ensembles and melanoma operating points
    package.py     `python -m instructor package`: the Gradescope and otter autograders, the student starter kit
"""
