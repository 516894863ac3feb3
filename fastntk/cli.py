"""Command-line entry point: ``fastntk <command> [options]``.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args)``;
COMMANDS maps the command name to that module.
"""
import argparse
import importlib
import sys

COMMANDS = {
    "demo": ("fastntk.demo", "an NTK Gram with its timing and the GNTK paper's MUTAG study on bundled data"),
    "pntk-quality": ("fastntk.studies.pntk_quality", "pNTK vs full empirical NTK of random MLPs against width"),
    "gntk-table": ("fastntk.gntk_cli", "the GNTK paper's TU graph benchmark protocol (accuracy table)"),
    "pinn-study": ("fastntk.studies.pinn_study", "PINN NTK study on 1-D Poisson: NTK drift vs width, spectra, adaptive weights"),
    "uci": ("fastntk.uci", "the UCI small-data benchmark of Arora et al. 2020 (MATH §9), resumable"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastntk", description="Fast Neural Tangent Kernels on CPUs")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    args = parser.parse_args(argv)
    return args._module.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
