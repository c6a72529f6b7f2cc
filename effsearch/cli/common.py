"""Pieces shared by the subcommands: parser construction with examples, and shared option groups."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from effsearch.errors import EffsearchError
from effsearch.runtime.console import console

__all__ = [
    "COUNT",
    "POSITIVE",
    "SEED",
    "WORKERS",
    "Parser",
    "add_command",
    "add_output_args",
    "add_proxy_args",
    "add_spec_overrides",
    "apply_spec_overrides",
    "console",
    "dataset_from_args",
    "float_range",
    "int_range",
    "proxy_config_from_args",
]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``effsearch: error: ...``, exit 1), not 14 lines of usage."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        self._refuse_empty_values(list(sys.argv[1:] if args is None else args))
        return super().parse_known_args(args, namespace)

    def _refuse_empty_values(self, args: list[str]) -> None:
        """An option given an empty value is a mistake, not "the default" (``--out ''`` is not the current folder)."""
        flags = {flag for action in self._actions if action.nargs != 0 for flag in action.option_strings}
        for i, token in enumerate(args):
            if token == "--":
                return
            flag, eq, value = token.partition("=")
            if flag in flags and ((eq and not value.strip()) or (not eq and i + 1 < len(args) and not args[i + 1].strip())):
                self.error(f"argument {flag}: is empty; give a value")

    def error(self, message: str) -> NoReturn:
        match = re.match(r"argument ([^:]+): (.*)$", message)
        if match:  # "argument --trials: 0 is invalid" -> "--trials 0 is invalid"
            flag = match.group(1).split("/")[-1]
            message = f"{flag} {match.group(2)}"
        raise EffsearchError(f"{message}; see '{self.prog} --help'")


def _number(text: str, convert: type) -> float:
    try:
        value = convert(text)
    except ValueError:
        kind = "an integer" if convert is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
    if convert is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``lo`` (to ``hi``)."""
    def parse(text: str) -> int:
        value = int(_number(text, int))
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is invalid; give an integer " + (f">= {lo}" if hi is None else f"from {lo} to {hi}"))
        return value

    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in the given range."""
    def parse(text: str) -> float:
        value = _number(text, float)
        bad = value < lo or (lo_open and value == lo) or (hi is not None and (value > hi or (hi_open and value == hi)))
        if bad:
            span = f"{'(' if lo_open else '['}{lo:g}, {'inf)' if hi is None else f'{hi:g}' + (')' if hi_open else ']')}"
            raise argparse.ArgumentTypeError(f"{value:g} is invalid; give a number in {span}")
        return value

    parse.__name__ = "number"
    return parse


POSITIVE = float_range(0, lo_open=True)
COUNT = int_range(1)
SEED = int_range(0, 2**32 - 1)


MAX_WORKERS = 100_000


def _workers(text: str) -> int | str:
    """An argparse type: a count of workers from 1, or ``auto`` (one per CPU)."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        return int_range(1, MAX_WORKERS)(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{str(exc).split(';')[0]}; give an integer from 1 to {MAX_WORKERS} or auto") from None


_workers.__name__ = "workers"
WORKERS = _workers


def add_output_args(group: argparse._ArgumentGroup, *, ray: str) -> None:
    """``--quiet``, ``-v/--verbose`` and ``--json``, meaning the same in every long-running command."""
    group.add_argument("--quiet", action="store_true", help="no progress display, only the final summary")
    group.add_argument("-v", "--verbose", action="store_true", help=f"also show {ray}'s own output")
    group.add_argument("--json", action="store_true",
                       help="print the final summary as one JSON object on stdout (progress goes to stderr)")


def add_command(sub: argparse._SubParsersAction, name: str, *, help: str, description: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand parser whose ``--help`` ends with worked examples."""
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:\n" + examples.strip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_spec_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=POSITIVE, default=None, help="width multiplier (channels, rounded to 8)")
    parser.add_argument("--depth", type=POSITIVE, default=None, help="depth multiplier (repeats, rounded up)")
    parser.add_argument("--resolution", type=int_range(8, 8192), default=None, help="deployment resolution in pixels")


def apply_spec_overrides(spec, args: argparse.Namespace):
    from effsearch.arch.scaling import scale

    if args.width is None and args.depth is None:
        return spec if args.resolution is None else spec.replace(resolution=args.resolution)
    return scale(spec, width=args.width or 1.0, depth=args.depth or 1.0, resolution=args.resolution)


# --------------------------------------------------------------------------- proxy training options (issue 3)

if TYPE_CHECKING:  # torch-heavy types, imported only for annotations
    from effsearch.data import Dataset
    from effsearch.engine import ProxyConfig


def add_proxy_args(parser: argparse.ArgumentParser, *, budgets: tuple[str, ...] = ("epochs", "steps", "seconds")) -> None:
    """The options of proxy training shared by ``evaluate``, ``baseline`` and ``scale``.

    Defaults are left as ``None`` so :func:`proxy_config_from_args` only overrides what the user
    gave and :class:`effsearch.proxy.ProxyConfig` stays the one place that holds the defaults.
    ``budgets`` names the training budgets a command offers (the scale grid is budgeted in epochs
    only, so it does not offer flags it would refuse).
    """
    group = parser.add_argument_group("proxy training (how each candidate is trained and validated)")
    group.add_argument("--dataset", metavar="NAME[:PATH]", default=None,
                       help="digits (default, bundled), cifar10[:PATH], cifar100[:PATH], mnist[:PATH], "
                       "fashion-mnist[:PATH], folder:PATH, npz:FILE, or a plugin's ('effsearch list datasets' shows all)")
    group.add_argument("--data-dir", metavar="DIR", default=None,
                       help="cache folder for downloaded data sets (default $EFFSEARCH_DATA or ~/.cache/effsearch/data)")
    group.add_argument("--val-fraction", type=float_range(0, 1, lo_open=True, hi_open=True), default=None, metavar="F",
                       help="share of the training data held out for validation (default 0.2)")
    if "epochs" in budgets:
        group.add_argument("--epochs", type=POSITIVE, default=None, metavar="E", help="training epochs per candidate (default 2)")
    if "steps" in budgets:
        group.add_argument("--steps", type=COUNT, default=None, metavar="N", help="stop after N optimizer steps")
    if "seconds" in budgets:
        group.add_argument("--seconds", type=POSITIVE, default=None, metavar="S", help="stop after S seconds of training")
    group.add_argument("--batch-size", type=COUNT, default=None, metavar="B", help="training batch size (default 64)")
    group.add_argument("--lr", type=POSITIVE, default=None, help="peak learning rate (default 0.2 x batch/128 for SGD, 0.004 x batch/128 for AdamW)")
    group.add_argument("--optimizer", choices=("sgd", "adamw"), default=None, help="sgd (Nesterov, default) or adamw")
    group.add_argument("--proxy-resolution", type=int_range(8, 1024), default=None, metavar="PX",
                       help="input size for proxy training (default: the data set's, 16 for digits)")
    group.add_argument("--seed", type=SEED, default=0, help="seed for initialisation, data order and sampling (default 0)")
    group.add_argument("--threads", type=int_range(1, 1024), default=None, help="CPU threads per training (default: the usable cores shared among the workers; one worker: OMP_NUM_THREADS or all cores)")
    group.add_argument("--device", default=None, help="auto (default: cuda when available), cpu, cuda or cuda:N")
    group.add_argument("--kernels", default=None, choices=("auto", "fused", "fast", "torch"),
                       help="CPU layer path: auto (default: the fastest on this processor, measured once), fused, fast or torch")


_PROXY_FIELDS = {
    "epochs": "epochs", "steps": "steps", "seconds": "seconds", "batch_size": "batch_size", "lr": "lr",
    "optimizer": "optimizer", "proxy_resolution": "resolution", "threads": "threads", "device": "device",
    "kernels": "kernels",
}


def proxy_config_from_args(args: argparse.Namespace, **overrides: object) -> ProxyConfig:
    """A validated :class:`~effsearch.proxy.ProxyConfig` from :func:`add_proxy_args` options.

    A step or time budget given without ``--epochs`` replaces the default epoch budget instead of
    adding to it. ``overrides`` (keyword fields of ProxyConfig) win over the options.
    """
    from effsearch.engine import ProxyConfig

    values = {field: getattr(args, arg) for arg, field in _PROXY_FIELDS.items() if getattr(args, arg, None) is not None}
    if "epochs" not in values and ("steps" in values or "seconds" in values):
        values["epochs"] = None
    values.update(overrides)
    return ProxyConfig(**values)


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    """Load the data set named by ``--dataset`` (validation split seeded by 0, so runs compare)."""
    from effsearch.data import DEFAULT_VAL_FRACTION, load_dataset

    fraction = getattr(args, "val_fraction", None)
    return load_dataset(getattr(args, "dataset", None), seed=0, cache_dir=getattr(args, "data_dir", None),
                        val_fraction=DEFAULT_VAL_FRACTION if fraction is None else fraction)


def space_width(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a width multiplier; give a number such as 0.5, or auto") from None
    if not math.isfinite(value) or not 0 < value <= 16:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; give a multiplier above 0 and at most 16, or auto")
    return value
