"""Every option of every command, fed malformed values: one line, exit 1, no traceback, nothing written.

The commands and options come from the real parser (:func:`effsearch.cli.build_parser`), so a new
option is fuzzed without touching this file: each value-taking option gets the malformed values of
its kind (an integer, a number, a path, a choice, a budget such as ``400M``, a ``LO,HI`` range, a
``1..7`` phi list, ``A,B,G`` coefficients, ``NAME[:PATH]``, a host, ...), each flag an explicit
value it cannot take. Every case appends the option to a tiny valid command line that points at
existing results folders (a real one-trial baseline run and a scale family, made once per module).

A value may be valid (``--port 0``), so the contract is asserted only for rejected values: exit
status exactly 1, one ``effsearch: error: `` line on stderr, no traceback, and the results folders
byte-identical. :data:`MUST_REJECT` lists values that are nonsense however they are read; those must
also be rejected. No case may start real work: proxy and supernet training, Ray and the dashboard's
server are replaced by a guard that ends the case ("accepted"), and a timer ends anything it misses.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import ipaddress
import shutil
import signal
import socket
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from effsearch.cli import build_parser, main
from tests.search_helpers import TINY_SPACE, write_space

PREFIX = "effsearch: error: "
CASE_SECONDS = 5  # a rejected case takes milliseconds; an accepted one stops at the guard within a second

# --------------------------------------------------------------------------- the values

UNICODE = "ü☃\u202e名"
NEWLINE = "1\n2"
HUGE = "9" * 40
GENERIC = ("", "abc", UNICODE, NEWLINE)
"""Values every option that takes one is fed, whatever its kind."""

BY_KIND: dict[str, tuple[str, ...]] = {
    "int": ("-5", "0", "2.5", "1e3", "nan", "inf", HUGE),
    "float": ("-5", "0", "1e-30", "1e400", "-1e400", "nan", "inf", "-inf", "1,5"),
    "path": ("../../etc", "{FILE}", "{FILE}/sub", "{MISSING}/x", "{EMPTYDIR}"),
    "choice": ("not-a-choice",),  # and the first choice upper-cased and with a trailing space, see values()
    "budget": ("-5M", "0", "0M", "400Q", "M", "1e400", "nan", "inf", "-inf", "400MM", "4 00M", "1e-30", "15ms",
               HUGE),
    "range": ("1", "1,2,3", "2,1", "a,b", "1,", ",2", "nan,2", "1,inf", "-1,2", "0,0", "1;2", "1..2", "1e400,2"),
    "phis": ("9..1", "1..", "..7", "-1", "x", "1,1", "3,1", "1.5", "0..1000", "99999", "1...3", "1-3"),
    "coefficients": ("1.2,1.1", "1.2,1.1,1.15,1", "a,b,c", "0,0,0", "-1.2,1.1,1.15", "nan,1,1", "inf,1,1",
                     "1e400,1,1", "1.2;1.1;1.15", "1.2,,1.15", "1,1,1"),
    "name_arg": (":", "abc:", ":x", "digits:{MISSING}", "cifar10:{MISSING}", "npz:{MISSING}", "npz:{FILE}",
                 "folder:{FILE}", "folder:{FILE}/sub", "supernet:{MISSING}", "supernet:{FILE}", "proxy:extra"),
    "host": ("999.1.1.1", "abc def", "http://127.0.0.1", "127.0.0.1:8050", "::1::", "-5", "256.256.256.256"),
    "address": ("999.1.1.1", "ray://", "ray://:0", "host:notaport", "-5"),
    "url": ("sqlite://", "sqlite:///{FILE}/sub/x.db", "journal:", "journal:{FILE}/sub", "foo://bar", "postgresql://x:y"),
    "device": ("cuda:99", "cuda:-1", "cuda:x", "cuda:", "gpu", "cpu:0", "CPU"),
    "pathish": ("../../etc", "{FILE}", "{FILE}/sub", "{MISSING}/x", "{EMPTYDIR}", "efficientnet-b99", "resnet50",
                "{CLASSIC}"),
    "factor": ("-5", "nan", "inf", "-inf", "1e400"),
    "text": ("x" * 5000,),
    "typed": (),
}

MUST_REJECT = {
    ("baseline", "--trials", "-5"), ("baseline", "--trials", "abc"), ("baseline", "--trials", "0"),
    ("baseline", "--flops-target", "-5M"), ("baseline", "--flops-target", "0"), ("baseline", "--flops-target", "nan"),
    ("baseline", "--flops-target", "abc"), ("baseline", "--latency-target", "-5M"),
    ("baseline", "--params-target", "0"),
    ("baseline", "--epochs", "0"), ("baseline", "--batch-size", "0"), ("baseline", "--space", ""),
    ("baseline", "--sampler", "abc"), ("baseline", "--reward", "abc"), ("baseline", "--reject-above", "-5"),
    ("baseline", "--reject-above", "nan"), ("baseline", "--storage", "abc"), ("baseline", "--evaluator", "abc"),
    ("baseline", "--retrain-top", "-5"), ("baseline", "--gpus-per-trial", "-5"), ("baseline", "--out", "{FILE}"),
    ("baseline", "--out", ""), ("baseline", "--workers", HUGE),
    ("evaluate", "--epochs", "0"), ("evaluate", "--epochs", "nan"), ("evaluate", "--batch-size", "0"),
    ("evaluate", "--lr", "-5"), ("evaluate", "--val-fraction", "0"), ("evaluate", "--seed", "-5"),
    ("evaluate", "--proxy-resolution", "0"), ("evaluate", "--dataset", "abc"), ("evaluate", "--device", "abc"),
    ("evaluate", "--device", "cuda:99"), ("evaluate", "SPEC", "{MISSING}/x"), ("evaluate", "SPEC", "abc"),
    ("evaluate", "--dataset", ""), ("evaluate", "--threads", HUGE),
    ("supernet", "--epochs", "0"), ("supernet", "--train-images", "0"), ("supernet", "--space", "abc"),
    ("supernet", "--device", "cuda:99"), ("supernet", "--space-width", "0"), ("supernet", "--space-width", "auto"),
    ("supernet", "--space-width", "abc"),
    ("scale", "--phi", "9..1"), ("scale", "--phi", "-99"), ("scale", "--coefficients", "1.2,1.1"),
    ("scale", "--coefficients", "nan,1,1"), ("scale", "--alpha-range", "2,1"), ("scale", "--grid-step", "0"),
    ("scale", "--tolerance", "-5"), ("scale", "--asha-reduction", "1"), ("scale", "--max-failures", "-5"),
    ("scale", "--epochs", "0"), ("scale", "--baseline", "{MISSING}/x"), ("scale", "--coefficients", ""),
    ("show", "--width", "0"), ("show", "--phi", "-5"), ("show", "--resolution", "0"), ("show", "--resolution", HUGE),
    ("show", "SPEC", "abc"),
    ("dashboard", "--port", "70000"), ("dashboard", "--port", "-5"), ("dashboard", "--poll", "0"),
    ("dashboard", "--host", "999.1.1.1"), ("dashboard", "RESULTS", "{MISSING}/x"),
    ("train", "--epochs", "0"), ("train", "--epochs", "1.5"), ("train", "SPEC", "abc"), ("train", "--resolution", "0"),
    ("train", "--dataset", "abc"), ("train", "--out", "{FILE}"), ("train", "--ema-decay", "1"),
    ("train", "--label-smoothing", "-5"), ("train", "--device", "cuda:99"), ("export", "DIR", "{MISSING}/x"),
    ("export", "DIR", "{EMPTYDIR}"), ("export", "--format", "abc"),
    ("report", "RESULTS", "{MISSING}/x"), ("report", "--output", "{EMPTYDIR}"),
    ("show", "SPEC", "resnet50"), ("show", "SPEC", "{CLASSIC}"), ("evaluate", "SPEC", "{CLASSIC}"),
    ("train", "SPEC", "{CLASSIC}"), ("scale", "--baseline", "{CLASSIC}"),
}
"""(command, option, value): nonsense however it is read, so it must be rejected (exit 1), not accepted.
``{CLASSIC}`` is a spec file whose ResNet bottleneck is too narrow for its expansion (no inner width)."""

# --------------------------------------------------------------------------- the commands

_PROXY = (("--dataset", "digits"), ("--steps", "1"), ("--batch-size", "16"), ("--threads", "1"), ("--device", "cpu"),
          ("--kernels", "torch"))
BASE: dict[str, tuple[list[str], list[tuple[str, ...]]]] = {
    "show": (["{SCALE}"], [("--phi", "0")]),
    "evaluate": (["efficientnet-b0"], [*_PROXY]),
    "supernet": ([], [("--space", "{SPACE}"), ("--train-images", "64"), ("--epochs", "1"),
                      *(p for p in _PROXY if p[0] != "--steps"), ("--out", "{NEW}")]),  # its budget is epochs only
    "baseline": ([], [("--flops-target", "5M"), ("--space", "{SPACE}"), ("--sampler", "random"), ("--trials", "2"),
                      *_PROXY, ("--quiet",), ("--out", "{BASE}")]),
    "scale": ([], [("--baseline", "{BASE}"), ("--phi", "0..1"), ("--epochs", "1"), *_PROXY, ("--workers", "1"),
                   ("--out", "{SCALE}")]),
    "train": (["efficientnet-b0"], [("--adapt",), ("--dataset", "digits"), ("--epochs", "1"), ("--batch-size", "16"),
                                     ("--train-images", "64"), ("--threads", "1"), ("--device", "cpu"),
                                     ("--kernels", "torch"), ("--out", "{NEW}")]),
    "export": (["{TRAINED}"], []),
    "dashboard": (["{BASE}"], [("--port", "0")]),
    "report": (["{BASE}"], [("--output", "{REPORT}")]),
}
"""Per command: positionals and options of a tiny valid command line (placeholders filled per case).

Options the command does not have (any more) are left out. ``baseline`` asks one more trial of the
study in {BASE} (made with ``--trials 1``) and ``scale`` runs a grid into the family folder {SCALE},
so both get as far as training when the fuzzed value is accepted. A command not listed here is
fuzzed on its bare command line."""

DROP = {"--latency-target": ("--flops-target",), "--params-target": ("--flops-target",), "SPEC": ("--phi",)}
"""Base options left out while fuzzing an option that excludes them (a search has one target; a spec
that is not a family has no --phi)."""


def _accepts(convert, text: str) -> bool:
    try:
        convert(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return False
    return True


_HINTS = (  # an untyped option's format, from its name (dest) or metavar
    (lambda dest, meta: dest.endswith("_target"), "budget"),
    (lambda dest, meta: dest.endswith("_range") or meta == "LO,HI", "range"),
    (lambda dest, meta: dest == "phi", "phis"),
    (lambda dest, meta: dest == "coefficients", "coefficients"),
    (lambda dest, meta: "[:" in meta, "name_arg"),
    (lambda dest, meta: dest == "host", "host"),
    (lambda dest, meta: dest.endswith("address") or meta == "ADDR", "address"),
    (lambda dest, meta: dest == "storage" or meta == "URL", "url"),
    (lambda dest, meta: dest.endswith("device"), "device"),
    (lambda dest, meta: dest == "reject_above", "factor"),
    (lambda dest, meta: meta in ("DIR", "FILE", "PATH", "SPEC", "RESULTS", "B")
     or dest in ("space", "baseline", "output", "out"), "pathish"),
)


def kind(action: argparse.Action) -> str:
    """What kind of value an option takes, read from its argparse action."""
    if action.nargs == 0:
        return "flag"
    if action.choices:
        return "choice"
    convert = action.type
    if convert in (Path, type(Path())):
        return "path"
    if convert is None or convert is str:
        dest, meta = action.dest, str(action.metavar or "")
        return next((name for match, name in _HINTS if match(dest, meta)), "text")
    whole = any(_accepts(convert, t) for t in ("1", "8", "100"))
    fraction = any(_accepts(convert, t) for t in ("0.5", "1.5", "2.5"))
    return "float" if fraction else "int" if whole else "typed"


def values(action: argparse.Action) -> list[str]:
    k = kind(action)
    if k == "flag":
        return ["=junk"]  # an explicit value for a flag: '--quiet=junk'
    extra = list(BY_KIND[k])
    if k == "choice":
        first = str(next(iter(action.choices)))
        extra += [first.upper(), first + " "]
    return list(dict.fromkeys([*GENERIC, *extra]))


@functools.cache
def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def fuzzed(parser: argparse.ArgumentParser):
    """(name, action) of every option and positional a user can give a value (or, for flags, a wrong one)."""
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        if action.option_strings:
            yield max(action.option_strings, key=len), action
        else:
            yield str(action.metavar or action.dest), action


@dataclass(frozen=True)
class Case:
    command: str
    option: str
    value: str
    positional: bool

    @property
    def id(self) -> str:
        return f"{self.command}-{self.option}-{label(self.value)}"


def label(value: str) -> str:
    named = {"": "EMPTY", UNICODE: "UNICODE", NEWLINE: "NEWLINE", " ": "SPACE"}
    if value in named:
        return named[value]
    text = value.replace("{", "").replace("}", "")
    if len(text) > 24:
        text = f"{text[:8]}...({len(text)})"
    return ascii(text)[1:-1].replace(" ", "_")


def cases() -> list[Case]:
    found: dict[tuple[str, str, str], Case] = {}
    commands = subcommands()
    for command, parser in commands.items():
        for name, action in fuzzed(parser):
            for value in values(action):
                found[(command, name, value)] = Case(command, name, value, not action.option_strings)
    for command, option, value in sorted(MUST_REJECT - set(found)):  # a listed value its kind does not generate
        found[(command, option, value)] = Case(command, option, value, not option.startswith("-"))
    return list(found.values())


CASES = cases()

# --------------------------------------------------------------------------- the world the cases run in


@dataclass
class World:
    ws: Path  # the existing folders: every case must leave them byte-identical when it is rejected
    pristine: Path
    places: dict[str, str]
    snapshot: dict[str, str]


def tree(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: relative name -> content hash ('dir' for folders)."""
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """A real one-trial baseline run and a scale family made from it, by the command line."""
    root = tmp_path_factory.mktemp("fuzz")
    ws = root / "ws"
    ws.mkdir()
    places = {"SPACE": write_space(ws, TINY_SPACE, "tiny"), "BASE": str(ws / "base"), "SCALE": str(ws / "scale"),
              "NEW": str(ws / "new-supernet"), "REPORT": str(ws / "report.html"), "TRAINED": str(ws / "trained")}
    _, options = base_line("baseline", ("--trials",))
    assert main(["baseline", *fill(options, places), "--trials", "1"]) == 0
    assert main(["scale", "--baseline", places["BASE"], "--coefficients", "1.2,1.1,1.15", "--phi", "0..1",
                 "--out", places["SCALE"]]) == 0
    assert main(["train", "efficientnet-b0", "--adapt", "--dataset", "digits", "--epochs", "1", "--train-images", "64",
                 "--batch-size", "32", "--threads", "1", "--kernels", "torch", "--no-export", "--out", places["TRAINED"]]) == 0
    shutil.copytree(ws, root / "pristine")
    return World(ws=ws, pristine=root / "pristine", places=places, snapshot=tree(ws))


def fill(args: list[str], places: dict[str, str]) -> list[str]:
    out = []
    for arg in args:
        for key, place in places.items():
            arg = arg.replace("{" + key + "}", place)
        out.append(arg)
    return out


def base_line(command: str, skip: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """The positionals and options of a command's base line, less ``skip`` and the options it does not have."""
    positionals, options = BASE.get(command, ([], []))
    known = subcommands()[command]._option_string_actions
    return list(positionals), [a for opt in options if opt[0] in known and opt[0] not in skip for a in opt]


def argv_for(case: Case) -> list[str]:
    """The command's base line with the case's value in place of (or added to) the option's."""
    positionals, options = base_line(case.command, (case.option, *DROP.get(case.option, ())))
    if case.positional:
        return [case.command, case.value, *options]
    if case.value == "=junk":
        return [case.command, *positionals, *options, case.option + case.value]
    given = [f"{case.option}={case.value}"] if case.value.startswith("-") else [case.option, case.value]
    return [case.command, *positionals, *options, *given]


# --------------------------------------------------------------------------- the guard and one run


class ReachedWork(BaseException):
    """A case got past argument checking into real work (a BaseException, so no handler swallows it)."""


class TimedOut(BaseException):
    pass


def _reached(what: str):
    def stop(*args, **kwargs):
        raise ReachedWork(what)

    return stop


def _serve(self) -> None:
    self._server.server_close()
    raise ReachedWork("serving the dashboard")


@pytest.fixture
def guard(monkeypatch):
    """Real work raises :class:`ReachedWork`; anything the guard misses is ended by a timer.

    The timer is SIGALRM, so within these tests it stands in for pytest-timeout's much longer one.
    """
    import ray

    import effsearch.proxy
    from effsearch.engine import latency, parallel
    from effsearch.export import files as export_files
    from effsearch.review.dashboard.app import Server
    from effsearch.runtime.pool import ProcessPool
    from effsearch.supernet.train import SupernetTrainer
    from effsearch.train import Training

    monkeypatch.setattr(effsearch.proxy, "train_and_evaluate", _reached("proxy training"))
    monkeypatch.setattr(latency, "measure_latency", _reached("latency measurement"))
    monkeypatch.setattr(SupernetTrainer, "run", _reached("supernet training"))
    monkeypatch.setattr(Training, "run", _reached("training"))
    for writer in ("write_torch_export", "write_onnx", "write_timm"):
        monkeypatch.setattr(export_files, writer, _reached("exporting"))
    monkeypatch.setattr(ray, "init", _reached("starting Ray"))
    monkeypatch.setattr(ProcessPool, "__init__", _reached("starting worker processes"))
    monkeypatch.setattr(parallel, "measure_layout", _reached("measuring the parallel layout"))
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # a cluster left by another test module is not ours
    monkeypatch.setattr(Server, "serve_forever", _serve)
    monkeypatch.setattr(socket, "getaddrinfo", _offline_resolver(socket.getaddrinfo))

    def expire(signum, frame):
        raise TimedOut()

    previous = signal.signal(signal.SIGALRM, expire)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _offline_resolver(real):
    """Names that are not addresses fail at once, as on an offline machine: a slow DNS server on CI
    must not turn a host-name case into a timed-out one."""
    def resolve(host, *args, **kwargs):
        try:
            ipaddress.ip_address(str(host).strip("[]"))
        except ValueError:
            if host not in (None, "localhost"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, *args, **kwargs)

    return resolve


@dataclass
class Outcome:
    code: int | None = None  # exit status; None when the case did not end by itself
    reached: str | None = None  # the real work it started (accepted)
    hung: bool = False  # still running when the timer went off: work the guard does not know, or a hang
    crash: str | None = None  # an exception that escaped main()
    out: str = ""
    err: str = ""

    def describe(self) -> str:
        if self.crash:
            return f"traceback:\n{self.crash}"
        if self.hung:
            return f"accepted: still running after {CASE_SECONDS} s (work the guard does not know, or a hang)"
        if self.reached:
            return f"accepted: started {self.reached}"
        return f"exit {self.code}; stderr {self.err!r}; stdout {self.out[-300:]!r}"


def run(argv: list[str], capfd) -> Outcome:
    outcome = Outcome()
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        outcome.code = main(argv)
    except SystemExit as exc:  # argparse's own exits (--help, or an error not routed through Parser.error)
        outcome.code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except ReachedWork as exc:
        outcome.reached = str(exc)
    except TimedOut:
        outcome.hung = True
    except Exception:
        outcome.crash = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    outcome.out, outcome.err = capfd.readouterr()
    return outcome


def restore(world: World) -> None:
    shutil.rmtree(world.ws)
    shutil.copytree(world.pristine, world.ws)


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_value(case, world, guard, tmp_path, monkeypatch, capfd):
    (tmp_path / "file.txt").write_text("not: [a valid file of any kind\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "classic.yaml").write_text("stem_chs: 32\nblocks: [bottleneck_r1_k3_s11_e4_i32_o2_relu]\n")
    cwd = tmp_path / "cwd" / "a" / "b"  # relative values ('../../etc', results/...) stay inside tmp_path
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    places = {**world.places, "FILE": str(tmp_path / "file.txt"), "EMPTYDIR": str(tmp_path / "empty"),
              "MISSING": str(tmp_path / "missing"), "CLASSIC": str(tmp_path / "classic.yaml")}
    argv = fill(argv_for(case), places)
    outcome = run(argv, capfd)
    changed = tree(world.ws) != world.snapshot
    if changed:
        restore(world)  # an accepted value may write; the next case needs the folders as they were
    shown = f"effsearch {' '.join(argv)!r}\n{outcome.describe()}"
    assert outcome.crash is None, shown
    assert not outcome.hung, f"accepted malformed value: {shown}"
    assert "Traceback" not in outcome.out + outcome.err, shown
    rejected = outcome.reached is None and outcome.code != 0
    if not rejected:
        assert (case.command, case.option, case.value) not in MUST_REJECT, f"accepted malformed value: {shown}"
        return
    assert outcome.code == 1, shown
    lines = outcome.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX) and lines[0][len(PREFIX):].strip(), shown
    assert not changed, f"a rejected value changed an existing results folder: {shown}"


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_the_base_command_lines_are_accepted(command, world, guard, tmp_path, monkeypatch, capfd):
    """A base line that is refused would hide every value fuzzed on it: each must get as far as real work."""
    monkeypatch.chdir(tmp_path)
    positionals, options = base_line(command)
    argv = [command, *fill([*positionals, *options], world.places)]
    outcome = run(argv, capfd)
    if tree(world.ws) != world.snapshot:
        restore(world)
    accepted = not outcome.crash and not outcome.hung and (outcome.reached or outcome.code == 0)
    assert accepted, f"effsearch {' '.join(argv)}\n{outcome.describe()}"


def test_must_reject_names_real_options():
    """A renamed option would turn its MUST_REJECT entries into 'unrecognized arguments', which passes for nothing."""
    options = {(command, name) for command, parser in subcommands().items() for name, _ in fuzzed(parser)}
    assert {(c, o) for c, o, _ in MUST_REJECT} - options == set()


def test_the_installed_command_exits_1_with_one_line():
    """One real process: the exit status and stderr a shell sees, not just main()'s return value."""
    done = subprocess.run([sys.executable, "-m", "effsearch", "baseline", "--flops-target", "400M", "--trials", "abc"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(PREFIX) and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
