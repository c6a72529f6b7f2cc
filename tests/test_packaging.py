"""The package as users get it: a built wheel, installed (not editable) into an empty folder, run from there.

An editable install reads every file from the checkout, so a run-time file the wheel forgot (the
dashboard's stylesheet, the fused kernel's C source) only shows up once installed. This builds the
wheel from a copy of the tracked files (as ``pip install .`` on a fresh clone does: an isolated
build with the project's build requirements, and no egg-info of an editable install to fill gaps),
installs it with ``--target`` into an empty folder and runs the commands from there, with the
checkout out of reach (``python -S``: no editable-install hook; the dependencies come from the
test environment's site-packages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _tracked_package_files() -> set[str]:
    """Every file of the package git tracks, as wheel paths (``effsearch/...``)."""
    out = subprocess.run(["git", "ls-files", "effsearch"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if line and "__pycache__" not in line}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, target folder, pip's build output) once for the module."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the packaging test needs the git checkout (it compares the wheel with the tracked files)")
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # the tracked files only: an egg-info left by an editable install would fill the gaps
    for name in subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines():
        if (ROOT / name).is_file() and not (ROOT / name).is_symlink():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(base / "dist"), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((base / "dist").glob("effsearch-*.whl"))
    target = base / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    return wheel, target, build.stdout + build.stderr + install.stdout + install.stderr


def _run(target: Path, cwd: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}",
           "EFFSEARCH_CACHE": str(cache or cwd / "cache")}
    return subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_every_file_of_the_package(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_tracked_package_files() - names)
    assert not missing, f"the wheel lacks {missing}; add them to [tool.setuptools.package-data] in pyproject.toml"


def test_building_and_installing_print_no_deprecation_warning(installed):
    _, _, output = installed
    assert "deprecat" not in output.lower(), output[-3000:]


def test_the_installed_package_runs_from_its_folder(installed, tmp_path):
    _, target, _ = installed
    code = ("import effsearch, importlib.metadata as m, json, sys; "
            "print(json.dumps({'file': effsearch.__file__, 'version': effsearch.__version__, "
            "'dist': m.version('effsearch')}))")
    out = _run(target, tmp_path, "-c", code)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["file"].startswith(str(target)), found  # not the checkout
    assert found["version"] == found["dist"]  # one version number, in run.json and in pip's metadata alike

    shown = _run(target, tmp_path, "-m", "effsearch", "show", "efficientnet-b0", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["macs"] == 399_352_864

    report = tmp_path / "x.html"
    made = _run(target, tmp_path, "-m", "effsearch", "report", str(ROOT / "results" / "examples" / "demo"), "--out", str(report))
    assert made.returncode == 0, made.stderr
    css = (target / "effsearch" / "review" / "dashboard" / "assets" / "style.css").read_text()
    assert css.strip().splitlines()[0] in report.read_text()  # the stylesheet is inlined into the report


def test_the_installed_dashboard_serves_its_stylesheet(installed, tmp_path):
    _, target, _ = installed
    code = ("import sys; from effsearch.review.dashboard.app import create_app; "
            "app = create_app([sys.argv[1]]); r = app.server.test_client().get('/assets/style.css'); "
            "print(r.status_code, len(r.data))")
    out = _run(target, tmp_path, "-c", code, str(ROOT / "results" / "examples" / "demo"))
    assert out.returncode == 0, out.stderr
    status, size = out.stdout.split()
    assert status == "200" and int(size) > 100


def test_the_installed_fused_kernel_builds_where_there_is_a_compiler(installed, tmp_path):
    _, target, _ = installed
    code = "from effsearch.engine.kernels import available_paths; print(' '.join(available_paths()))"
    out = _run(target, tmp_path, "-c", code)
    assert out.returncode == 0, out.stderr
    paths = out.stdout.split()
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert ("fused" in paths) == (compiler is not None), (paths, compiler, out.stderr)
