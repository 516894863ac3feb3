"""UCI benchmark (MATH §9): the 90 datasets, the 15 ReLU NTKs of Arora et al. 2020, SVC with
C ∈ {1e-2, ..., 1e4}, validation-only selection, mean of the 4 test splits; then the richer search.

    FASTNTK_DATA=../shared/data python benchmarks/uci.py [--suite both] [--jobs 2]

Per-dataset results go to benchmarks/results/uci/<suite>/<name>.json (rerunning resumes);
the report goes to benchmarks/results/uci.md.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fastntk import uci  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    uci.add_arguments(parser)
    parser.set_defaults(out=os.path.join(HERE, "results", "uci"), report=os.path.join(HERE, "results", "uci.md"),
                        suite="both")
    return uci.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
