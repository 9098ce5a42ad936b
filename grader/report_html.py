"""`python -m grader report runs/suite/`: a self-contained HTML page from a suite run (work in progress)."""


def main(args):
    raise SystemExit("report: not implemented yet")


def add_parser(cmds):
    r = cmds.add_parser("report", help="build a self-contained HTML report from a suite folder")
    r.add_argument("suite", help="the suite's --out folder (default runs/suite/)")
    r.add_argument("--out", help="HTML file to write (default: SUITE/report.html)")
    r.set_defaults(run=main)
    return r
