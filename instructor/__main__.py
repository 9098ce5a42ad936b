"""Command line: `python -m instructor {suite,grade-class,report,package} ...`: each module registers its own
subcommand (add_parser) and imports what is heavy (matplotlib, otter, dask) only when that subcommand runs."""
import argparse
import sys

from instructor import classroom, package, report, suite


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m instructor")
    cmds = ap.add_subparsers(dest="command", required=True)
    for module in (suite, classroom, report, package):
        module.add_parser(cmds)
    args = ap.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
