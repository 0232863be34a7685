"""The benchmark scripts' arguments: a bad value is argparse's one line, before anything is built or timed; the
command a report and its record cite."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftn.benchmark import (command_line, device_name, names_of, output_file, positive_float, positive_int,
                           positive_ints, records_folder, write_bench_record)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("parse, text", [(positive_int, "0"), (positive_int, "-3"), (positive_int, "2.5"),
                                         (positive_ints, "1,x"), (positive_ints, "1,,2"), (positive_ints, "0"),
                                         (positive_float, "0"), (positive_float, "nan"), (positive_float, "inf"),
                                         (device_name, "tpu"), (names_of(["max", "lstm"]), "max,lsmt"),
                                         (names_of(["max", "lstm"]), "max,")])
def test_a_bad_value_is_refused_with_what_is_allowed(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match="allowed are"):
        parse(text)


def test_a_benchmarks_output_is_checked_before_anything_is_timed(tmp_path):
    a_file = tmp_path / "report.md"
    a_file.write_text("")
    for parse, text, why in [(output_file, tmp_path, "is a folder; allowed are file paths"),
                             (records_folder, a_file, "is a file; allowed are folders"),
                             (output_file, a_file / "deeper.md", f"goes under {a_file}, a file")]:
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            parse(str(text))
    assert output_file(str(a_file)) == a_file and records_folder(str(tmp_path / "new")) == tmp_path / "new"


def test_good_values_pass():
    assert (positive_int("3"), positive_ints("1,100"), positive_float("0.5"), device_name("cpu")) == (3, [1, 100], 0.5,
                                                                                                     "cpu")
    assert names_of(["max", "lstm"])("lstm,max") == ["lstm", "max"]


def test_a_script_stops_on_a_bad_argument_in_one_line():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_table3.py"), "--batches=1,a"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("bench_table3.py: error: argument --batches: '1,a'")


def test_a_report_and_its_record_cite_the_same_command_from_the_repositorys_root(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(ROOT / "scripts" / "bench_table3.py"), "--repeats", "30", "--out", "a b.md"])
    assert command_line() == "python scripts/bench_table3.py --repeats 30 --out 'a b.md'"
    record = json.loads(write_bench_record(tmp_path / "summary.json", "table3", "cpu").read_text())
    assert record["command"] == command_line()
