"""Build results/<table>.md from the run records; nothing is typed by hand.

    python -m ftn.results --all [--runs ...] [--out results]     # every table
    python -m ftn.results table2 claims [--runs ...]                 # some of them

Records are read from every ``--runs`` folder (by default the local ``runs/`` and the committed
``results/runs/``); the same run found twice counts once (``records``). Each table has a builder of its own, and
each is also written into the <!-- name --> block of the READMEs that have one: results/README.md holds every
table's, README.md the headline's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable

from ..atomic import atomic_write_text
from ..identity import device_folder
from ..record_files import ENDED, RESULTS, SUMMARY, record_folder
from .claims_text import claims
from .figure_readings import figure_readings
from .headline import headline
from .readme import update_readme
from .records import RUNS_DIRS, BadRecords, load_runs, read_records, runs_dirs_problem, trained_on
from .table1 import table1
from .table2 import table2
from .table4 import table4
from .zoo import pooling_zoo

DEFAULT_OUT = RESULTS
# The READMEs whose <!-- name --> blocks get the tables when they are written to DEFAULT_OUT.
READMES = (Path("README.md"), DEFAULT_OUT / "README.md")
# The experiments behind each table: Table 1 shows our recipe and, beside it, the paper's recipe as written; the
# zoo sets its own runs beside Table 2's baselines.
EXPERIMENTS = {"table1": ("table1", "table1_paper"), "table2": ("table2",), "table4": ("table4",),
               "pooling_zoo": ("zoo", "table2", "pooling_cost"),
               "claims": ("table1", "table1_paper", "table2", "table3", "table4", "zoo"),
               "headline": ("table1", "table2"), "figure_readings": ("table2",)}
BUILDERS = {"table1": table1, "table2": table2, "table4": table4, "pooling_zoo": pooling_zoo, "claims": claims,
            "headline": headline, "figure_readings": figure_readings}


def table_records(name: str, runs_dir: Path | Iterable[Path], experiment: str | None = None, skip_bad: bool = False,
                  results_only: bool = True) -> list[dict]:
    """The finished runs table ``name`` is built from: those of ``experiment``, by default the table's own
    experiments (``EXPERIMENTS``); only result runs (``load_runs``) unless ``results_only`` is False."""
    return [r for e in ((experiment,) if experiment else EXPERIMENTS[name])
            for r in load_runs(runs_dir, e, skip_bad, results_only)]


def write_table(name: str, runs_dir: Path | Iterable[Path], out_dir: Path, readmes: Iterable[Path] = (),
                experiment: str | None = None, skip_bad: bool = False, results_only: bool = True) -> Path | None:
    """Write <out_dir>/<experiment>.md from ``table_records`` (default experiment: the table's own), and the
    table's block of each of ``readmes`` that has one."""
    records = table_records(name, runs_dir, experiment, skip_bad, results_only)
    experiment = experiment or name
    if not records:
        where = " and ".join(map(str, [runs_dir] if isinstance(runs_dir, (str, Path)) else runs_dir))
        print(f"{experiment}: no finished runs under {where}; nothing written")
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{experiment}.md"
    notes = out_dir / f"{name}.notes.md"  # hand-written discussion, kept beside the generated table
    text = "\n".join(BUILDERS[name](records)) + "\n"
    if notes.exists():
        text = text + "\n" + notes.read_text()
    path.write_text(text)
    if experiment == name:
        for readme in readmes:
            update_readme(readme, name, text)
    print(f"{name}: {len(records)} runs -> {path}")
    return path


def collect(runs_dirs: Iterable[Path], records_dir: Path, skip_bad: bool = False) -> int:
    """Copy every finished or diverged record under ``runs_dirs`` to ``records_dir/[gpu/]<experiment>/<run folder>/``
    by the rule a run's own copy follows (``record_files.record_folder``: no smoke data, and no run that is no result
    into the committed records); for runs made before ``records_dir`` existed, or in another worktree. Returns the
    count."""
    copied = 0
    for path, record in read_records(runs_dirs, skip_bad):
        where = records_dir / device_folder(trained_on(record))  # as the paths group places a new run's record
        folder = record_folder(str(where), str(record.get("experiment")), path.parent, record.get("config", {}),
                               record.get("overrides", []))
        if record.get("status") in ENDED and folder and (folder / SUMMARY).resolve() != path.resolve():
            atomic_write_text(folder / SUMMARY, path.read_text())
            copied += 1
    return copied


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tables", nargs="*", help=f"any of {', '.join(sorted(BUILDERS))}")
    parser.add_argument("--all", action="store_true", help="build every table (the names above need not be given)")
    parser.add_argument("--collect", type=Path, metavar="DIR",
                        help="first copy the finished and diverged records under --runs into DIR (e.g. results/runs)")
    parser.add_argument("--runs", type=Path, nargs="+", default=list(RUNS_DIRS),
                        help="folders of run records (default: runs results/runs)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--experiment", help="experiment name of the runs, if not the table's (e.g. table1_quick)")
    parser.add_argument("--readme", action="append", default=None,
                        help="a README whose <!-- table --> blocks get the tables; repeat for several, '' for none "
                             f"(default: {' and '.join(map(str, READMES))} when --out is the default results/, else "
                             "none, so a table written elsewhere never rewrites the repository's READMEs)")
    parser.add_argument("--skip-bad-records", action="store_true",
                        help="leave out records no table may trust (ftn.results.records), with a warning each, "
                             "instead of stopping")
    args = parser.parse_args(argv)
    if not (args.tables or args.all or args.collect):
        parser.error(f"nothing to do; allowed: --all, or table names ({', '.join(sorted(BUILDERS))}), or --collect DIR")
    if unknown := sorted(set(args.tables) - set(BUILDERS)):
        parser.error(f"tables {unknown} are unknown; allowed: {', '.join(sorted(BUILDERS))}")
    if problem := runs_dirs_problem(args.runs):
        parser.error(problem)
    try:
        read_records(args.runs, args.skip_bad_records)  # a bad record stops us before anything is written
    except BadRecords as error:
        sys.exit(f"ftn.results: {error}")
    if args.collect:
        print(f"{collect(args.runs, args.collect, True)} records copied into {args.collect}")
    readmes = READMES if args.readme is None and args.out == DEFAULT_OUT else [Path(p) for p in args.readme or [] if p]
    for name in BUILDERS if args.all else args.tables:
        # smoke and quick runs never reach the committed tables; written elsewhere (a GPU smoke check), they do
        write_table(name, args.runs, args.out, readmes, args.experiment, True, results_only=args.out == DEFAULT_OUT)


if __name__ == "__main__":
    main()
