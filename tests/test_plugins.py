"""Plugins: an installed package's entry point (group ``effsearch.plugins``) extends every registry.

The toy plugin below is "installed" the way pip installs one, as far as ``importlib.metadata`` can
tell: its package and a ``*.dist-info`` folder (``METADATA``, ``entry_points.txt``) on the path of a
subprocess. Lazy registry entries and the import circle that they removed are checked here too.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from effsearch.errors import EffsearchError
from effsearch.runtime import plugins
from effsearch.runtime.registry import Registry
from tests.search_helpers import write_space

REPO = Path(__file__).resolve().parent.parent

PLUGIN = '''
"""A plugin of the shape a user would publish: one op, sampler, data format, evaluator and objective."""

from __future__ import annotations

import optuna
import torch
from torch import nn

import effsearch
from effsearch.arch.blocks import TORCH_LAYERS
from effsearch.data import RawData


class ToyFused(nn.Module):
    """A fused block: a kxk expansion conv (+BN+act), then a linear 1x1 projection (+BN); no shortcut."""

    def __init__(self, layer, *, drop_path=0.0, layers=None):
        super().__init__()
        layers = layers or TORCH_LAYERS
        mid = max(1, round(layer.in_chs * layer.exp_ratio))
        self.conv_exp = layers.conv_bn_act(layer.in_chs, mid, layer.kernel_size, layer.stride, act=layer.act, layers=layers)
        self.conv_pwl = layers.conv_bn_act(mid, layer.out_chs, 1, layers=layers)
        self.has_residual = False

    def forward(self, x):
        return self.conv_pwl(self.conv_exp(x))


def _toy_cost(in_chs, out_chs, kernel, stride, exp_ratio, se_ratio, in_size):
    size = -(-in_size // stride)
    mid = max(1, round(in_chs * exp_ratio))
    params = mid * in_chs * kernel * kernel + 2 * mid + out_chs * mid + 2 * out_chs
    return params, params * size * size


effsearch.register_op(effsearch.Op(
    name="toyfused", token="toyfused", expands=True, mid_channels=lambda i, o, e: max(1, round(i * e)), cost=_toy_cost,
    module=ToyFused, timm=lambda block, act: None, label=lambda b: f"t{b.exp_ratio:g}",
    description="toy plugin: a fused conv block"))


class ToySampler(optuna.samplers.RandomSampler):
    """Optuna's random sampler under another name."""


class Constant:
    def __init__(self, value):
        self.value = value

    def __call__(self, spec, data, proxy, *, seed=0, on_epoch=None):
        return {"status": "ok", "accuracy": self.value, "loss": 0.1, "train_seconds": 0.0}


def load(path=None, *, cache_dir=None, download=True):
    # 160 grey 8x8 images in 4 classes, each class a bright quadrant: learnable in a few steps.
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(160) % 4
    x = torch.randint(0, 60, (160, 1, 8, 8), generator=gen, dtype=torch.uint8)
    for label in range(4):
        rows, cols = divmod(label, 2)
        x[y == label, :, rows * 4:rows * 4 + 4, cols * 4:cols * 4 + 4] += 180
    return RawData(x=x, y=y, classes=("nw", "ne", "sw", "se"), source="toy quadrants", proxy_resolution=8)


def register_objective():
    effsearch.register_objective(effsearch.Objective(
        name="toy_layers", label="toy layers", parse=lambda t, what="toy_layers target": float(t),
        format=lambda v: f"{v:g}", measure=lambda spec, ctx: float(spec.num_layers)))


effsearch.register_sampler("toy-random", lambda *, seed, space, workers: ToySampler(seed=seed),
                           description="toy plugin: random sampling")
effsearch.register_format("toy-quadrants", load, aliases=("toyq",), train_augment="crop",
                          description="toy plugin: 160 synthetic 8x8 quadrant images")
effsearch.register_evaluator("toy-constant", lambda arg, *, data, proxy, out, space: Constant(float(arg or 0.5)),
                             description="toy plugin: every candidate scores the same")
'''


def _install(site: Path, dist: str, entry_points: str, files: dict[str, str]) -> None:
    """Lay out ``files`` and a ``dist``-0.1.dist-info folder declaring ``entry_points`` in ``site``."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[effsearch.plugins]\n{textwrap.dedent(entry_points).strip()}\n")
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    toy, broken = tmp_path_factory.mktemp("toy-site"), tmp_path_factory.mktemp("broken-site")
    _install(toy, "toyplug", """
        toy = toyplug.plugin
        toy-objective = toyplug.plugin:register_objective
    """, {"toyplug/__init__.py": "", "toyplug/plugin.py": PLUGIN})
    _install(broken, "brokenplug", "broken = brokenplug.plugin", {
        "brokenplug/__init__.py": "", "brokenplug/plugin.py": "import not_a_module_anywhere\n"})
    return {"toy": toy, "broken": broken}


def _effsearch(args: list[str], *paths: Path, cwd: Path | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, paths), str(REPO)]), "OMP_NUM_THREADS": "1"}
    env.pop(plugins.DISABLE, None)
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "effsearch", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd or REPO, timeout=120)


# --------------------------------------------------------------------------- installed plugins, end to end


def test_an_installed_plugin_extends_every_registry_and_a_broken_one_is_one_line(sites):
    result = _effsearch(["list", "--json"], sites["toy"], sites["broken"])
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["samplers"]["toy-random"] == "toy plugin: random sampling"
    assert found["datasets"]["toy-quadrants"].startswith("toy plugin: 160 synthetic") and "toyq" in found["datasets"]["toy-quadrants"]
    assert "toy-constant" in found["evaluators"] and found["objectives"]["toy_layers"] == "toy layers"
    assert found["ops"]["toyfused"] == "toy plugin: a fused conv block"
    assert found["plugins"]["toy"] == "toyplug.plugin (from toyplug): loaded"
    assert found["plugins"]["toy-objective"] == "toyplug.plugin:register_objective (from toyplug): loaded"
    assert found["plugins"]["broken"].startswith("brokenplug.plugin (from brokenplug): failed: ModuleNotFoundError")
    err = result.stderr.strip()
    assert err == ("effsearch: warning: plugin 'broken' (brokenplug.plugin) failed to load: ModuleNotFoundError: "
                   "No module named 'not_a_module_anywhere'; uninstall it or fix it")


def test_a_broken_plugin_does_not_stop_a_command(sites):
    result = _effsearch(["list", "plugins"], sites["broken"])
    assert result.returncode == 0 and "failed: ModuleNotFoundError" in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "plugin 'broken'" in result.stderr
    disabled = _effsearch([], sites["broken"], code=f"import os; os.environ[{plugins.DISABLE!r}] = '1'\n"
                          "from effsearch.cli import main; raise SystemExit(main(['list', 'plugins']))")
    assert disabled.returncode == 0 and "none installed" in disabled.stdout and not disabled.stderr.strip()


TOY_SPACE = """
name: toyspace
network: {stem: 8, head: 32, resolution: 32, act: relu}
choices: {op: [toyfused_e2, ds], kernel: [3], se: [0], skip: [identity], filters: [1.0], layers: [0]}
blocks:
  - {filters: 8, layers: 1, stride: 1}
  - {filters: 16, layers: 1, stride: 2, choices: {op: [toyfused_e2]}}
"""


def test_a_baseline_search_uses_the_plugin_op_sampler_and_data_set(sites, tmp_path):
    """Every kind from the plugin in one search from the command line, candidates trained in worker processes
    (which load the plugin themselves on their first unknown name)."""
    space, out = write_space(tmp_path, TOY_SPACE, "toy"), tmp_path / "run"
    result = _effsearch(["baseline", "--flops-target", "5M", "--space", space, "--sampler", "toy-random", "--dataset",
                         "toyq", "--trials", "3", "--steps", "4", "--batch-size", "32", "--threads", "1", "--workers",
                         "2", "--quiet", "--out", str(out)], sites["toy"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["sampler"] == "toy-random" and config["dataset"] == "toy-quadrants"
    trials = (out / "trials.csv").read_text().splitlines()
    assert len(trials) == 4 and all(",toy-random," in row for row in trials[1:])
    assert all(",ok,," in row or ",cached,same architecture" in row for row in trials[1:]), trials  # two networks
    assert all("toyfused_" in row for row in trials[1:])  # the plugin op is in every candidate's blocks


def test_the_library_loads_plugins_on_its_first_unknown_name(sites):
    code = textwrap.dedent("""
        from effsearch.data import load_dataset
        from effsearch.search.samplers import get_sampler
        from effsearch.train import TrainConfig
        data = load_dataset("TOYQ")
        print(data.name, data.num_classes, TrainConfig().augment_for(data), get_sampler("toy-random").description)
    """)
    result = _effsearch([], sites["toy"], code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "toy-quadrants 4 crop toy plugin: random sampling"


# --------------------------------------------------------------------------- load_plugins, in process


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=plugins.GROUP)


@pytest.fixture
def fresh(monkeypatch):
    """No plugin loaded yet; ``entry`` lists the entry points this test "installs"."""
    found: list[EntryPoint] = []
    monkeypatch.setattr(plugins, "_PLUGINS", None)
    monkeypatch.setattr(plugins, "_entry_points", lambda: found)
    monkeypatch.delenv(plugins.DISABLE, raising=False)
    return found


def test_each_plugin_loads_once_and_a_failure_is_a_one_line_warning(fresh, tmp_path, monkeypatch):
    import builtins

    monkeypatch.setattr(builtins, "COUNTED", 0, raising=False)
    (tmp_path / "counting_plugin.py").write_text("import builtins\nbuiltins.COUNTED += 1\n")
    (tmp_path / "raising_plugin.py").write_text("raise RuntimeError('first line\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh += [_entry("counting", "counting_plugin"), _entry("raising", "raising_plugin"),
              _entry("not-callable", "counting_plugin:__name__")]
    with pytest.warns(plugins.PluginWarning) as caught:
        loaded = plugins.load_plugins()
    assert plugins.load_plugins() == loaded and plugins.load_plugins_once() is False and builtins.COUNTED == 1
    states = {p.name: p.state for p in loaded}
    assert states == {"counting": "loaded", "raising": "failed: RuntimeError: first line second line",
                      "not-callable": "failed: TypeError: counting_plugin:__name__ is not callable"}
    assert [str(w.message).count("\n") for w in caught] == [0, 0]
    assert str(caught[0].message) == ("plugin 'raising' (raising_plugin) failed to load: RuntimeError: first line "
                                      "second line; uninstall it or fix it")


def test_a_registry_miss_loads_the_plugins_and_finds_their_entry(fresh, tmp_path, monkeypatch):
    registry: Registry[str] = Registry("widget")
    module = tmp_path / "widget_plugin.py"
    module.write_text("def register():\n    REGISTRY.register('blue', 'a blue widget')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.import_module("widget_plugin").REGISTRY = registry
    fresh.append(_entry("widgets", "widget_plugin:register"))
    assert registry.get("blue") == "a blue widget" and [p.state for p in plugins.loaded_plugins()] == ["loaded"]
    with pytest.raises(EffsearchError, match=r"^unknown widget 'red'; use one of blue$"):
        registry.get("red")  # plugins were loaded once: a second miss loads nothing again


# --------------------------------------------------------------------------- lazy entries


def test_lazy_entries_are_listed_unimported_and_loaded_on_first_lookup(tmp_path, monkeypatch):
    (tmp_path / "lazy_target.py").write_text("ENTRY = {'name': 'late'}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[dict] = Registry("thing")
    registry.register_lazy("late", "lazy_target:ENTRY", description="imported when asked for", aliases=("later",))
    assert registry.listing() == [("late", "imported when asked for")] and "lazy_target" not in sys.modules
    assert "later" in registry and registry.canonical("later") == "late"
    assert registry.get("later") == {"name": "late"} and "lazy_target" in sys.modules
    registry.register_lazy("gone", "no_such_module_here:ENTRY")
    with pytest.raises(EffsearchError, match=r"^thing 'gone' could not be loaded from no_such_module_here:ENTRY: "
                       r"ModuleNotFoundError"):
        registry.get("gone")
    with pytest.raises(EffsearchError, match="not 'module:attribute'"):
        registry.register_lazy("bad", "no_colon")


def test_aliases_are_refused_twice_and_leave_with_their_entry():
    registry: Registry[int] = Registry("number")
    registry.register("one", 1, aliases=("uno",))
    with pytest.raises(EffsearchError, match="alias 'uno' already names number 'one'"):
        registry.register("eins", 1, aliases=("uno",))
    with pytest.raises(EffsearchError, match="already registered"):
        registry.register("uno", 1)
    registry.unregister("one")
    assert "uno" not in registry and registry.names() == ()


def test_the_supernet_evaluator_is_listed_without_torch_and_owned_by_its_package():
    code = textwrap.dedent("""
        import sys
        from effsearch.search.catalog import catalog
        listed = dict(catalog("evaluators"))
        assert "torch" not in sys.modules, "listing the evaluators imported torch"
        from effsearch.search.evaluators import get_evaluator
        from effsearch.supernet.evaluator import SUPERNET
        assert get_evaluator("supernet:DIR") is SUPERNET and SUPERNET.description == listed["supernet"]
    """)
    env = {**os.environ, plugins.DISABLE: "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr


def _effsearch_imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any level (functions included)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_no_import_circle_between_the_evaluator_registry_and_the_supernet():
    evaluators = _effsearch_imports(REPO / "effsearch" / "search" / "evaluators.py")
    assert not [m for m in evaluators if m.startswith("effsearch.supernet")], evaluators
    runtime = [m for p in (REPO / "effsearch" / "runtime").glob("*.py") for m in _effsearch_imports(p)]
    assert not [m for m in runtime if m.startswith(("effsearch.search", "effsearch.cli"))], "runtime imports upward"
