"""Packaging: the dependency lists agree, and a built wheel trains from any directory."""
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

from ftn.record_files import SUMMARY

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_the_pyproject_dependencies():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip if not p.startswith("-e")) == sorted(deps)


def test_configs_link_points_into_the_package():
    # the documented configs/... paths and the packaged configs are one tree
    assert (ROOT / "configs").resolve() == (ROOT / "src" / "ftn" / "configs").resolve()


def test_wheel_installs_and_trains_from_another_directory(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "-q"]
    # the shared venv never changes: the wheel goes into a throwaway target
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True,
                   capture_output=True, cwd=tmp_path)
    wheel = next(wheels.glob("ftn-*.whl"))
    packaged = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"ftn/configs/{p.relative_to(ROOT / 'src/ftn/configs')}" for p in (ROOT / "src/ftn/configs").rglob("*")
               if p.is_file() and p.suffix in (".yaml", ".example") and p.name != "site.yaml"}
    assert "ftn/configs/hydra/launcher/slurm.yaml" in shipped and shipped <= packaged
    assert "hydra_plugins/ftn_packed_launcher/__init__.py" in packaged  # hydra/launcher=packed, installed too
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
           "FTN_RUNS": str(tmp_path / "runs"), "FTN_RECORDS": str(tmp_path / "records"),
           "FTN_CACHE": str(tmp_path / "cache")}
    where = subprocess.run([sys.executable, "-c", "import ftn; print(ftn.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target))  # the installed copy runs, not this checkout
    done = subprocess.run([str(target / "bin" / "ftn-train"), "experiment=table2", "dataset=synthetic",
                           "schedule=smoke", "logger.mode=disabled", "trainer.accelerator=cpu",
                           "trainer.enable_progress_bar=false"], cwd=elsewhere, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "table2" / "dataset=synthetic,schedule=smoke"
    assert (run_dir / SUMMARY).exists() and not (tmp_path / "records").exists()  # smoke data is never archived
    assert list((tmp_path / "cache").glob("*.pt")) and not list(elsewhere.iterdir())  # nothing written in cwd
