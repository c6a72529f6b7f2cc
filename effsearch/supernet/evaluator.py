"""The ``supernet`` evaluator: candidates scored with a supernet's weights instead of trained.

``supernet:DIR`` uses the finished supernet in ``DIR``; ``supernet`` alone trains one first into
``<results folder>/supernet`` (resumable like everything else) with :class:`SupernetConfig`'s
defaults. Both are refused in one line, before anything is written, when the supernet was trained
on another space or data set. The finalists of ``retrain_top`` are always verified by standalone
proxy training (:attr:`SupernetEvaluator.verify`).

Sent to Ray workers once through the object store: the weights travel as NumPy arrays (read
zero-copy from shared memory) and each worker process builds the supernet once.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from effsearch.engine.device import default_threads, resolve_device, thread_scope
from effsearch.search.evaluators import EvaluatorEntry, ProxyEvaluator
from effsearch.supernet import folder as files
from effsearch.supernet.layout import SupernetError, layout_for
from effsearch.supernet.model import Supernet
from effsearch.supernet.score import ScoreConfig, Scorer
from effsearch.supernet.train import SupernetConfig, identity, train_supernet

AUTO_FOLDER = "supernet"
_MODELS: dict[str, Supernet] = {}  # per process: one supernet per weights, however many calls


class SupernetEvaluator:
    """Score candidates with inherited weights; ``verify`` is the standalone proxy for the finalists."""

    name = "supernet"

    def __init__(self, folder: str | Path, *, space: Any, data: Any, proxy: Any, train: SupernetConfig | None = None,
                 score: ScoreConfig | None = None):
        self.folder, self.space, self.train_config = Path(folder), space, train
        self.score_config = score or ScoreConfig()
        self.verify = ProxyEvaluator()
        self._weights: dict[str, Any] | None = None
        self._scorers: dict[tuple, Scorer] = {}
        layout_for(space)  # a space that cannot share weights is refused here, in one line
        want = identity(space, data, proxy, train or SupernetConfig())
        meta = files.read_meta(self.folder)
        if train is None or meta is not None:
            if meta is None:
                raise SupernetError(f"{self.folder} holds no supernet ({files.META} is missing); train one there first")
            keys = ("space", "layout", "decisions", "data") if train is None else tuple(want)
            files.same_identity(meta.get("identity", {}), {k: want[k] for k in keys}, folder=self.folder,
                                what="this search")
            want = meta["identity"]
        self.identity = want

    # -- the evaluator protocol --------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "supernet": self.identity, "score": self.score_config.to_dict()}

    def prepare(self, *, data: Any, proxy: Any, on_epoch: Any = None) -> None:
        """Train the supernet if this evaluator owns one (``supernet`` without a folder), then load it."""
        if self.train_config is not None:
            # Trained here, in the main process, with every core (Ray workers' proxies carry one thread each).
            trainer_proxy = proxy.replace(threads=None) if hasattr(proxy, "replace") else proxy
            train_supernet(self.space, data, trainer_proxy, self.train_config, self.folder, on_epoch=on_epoch)
        if self._weights is None:
            _, self._weights = files.finished_weights(self.folder)

    def __call__(self, spec: Any, data: Any, proxy: Any, *, seed: int = 0, on_epoch: Any = None) -> dict[str, Any]:
        device = resolve_device(proxy.device)
        with thread_scope(proxy.threads or default_threads()):
            return self._scorer(data, proxy, device).score(spec)

    # -- one supernet per process ----------------------------------------------------------------

    @property
    def key(self) -> str:
        text = json.dumps([str(self.folder.resolve()), self.identity], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _model(self, data: Any, device: torch.device) -> Supernet:
        model = _MODELS.get(self.key)
        if model is None:
            if self._weights is None:  # called without prepare(): the folder must hold a finished supernet
                _, self._weights = files.finished_weights(self.folder)
            model = Supernet(layout_for(self.space), num_classes=data.num_classes, in_chans=data.in_chans)
            with warnings.catch_warnings():  # arrays from Ray's shared memory are read-only; they are copied here
                warnings.simplefilter("ignore", UserWarning)
                model.load_state_dict({k: torch.as_tensor(v) for k, v in self._weights.items()})
            _MODELS.clear()  # one supernet per process is enough; the old one's memory goes back
            _MODELS[self.key] = model
        return model.to(device).eval()

    def _scorer(self, data: Any, proxy: Any, device: torch.device) -> Scorer:
        resolution = self.identity["data"]["resolution"]
        key = (id(data), str(device), proxy.min_feature, proxy.channels_last, proxy.eval_batch_size)
        scorer = self._scorers.get(key)
        if scorer is None or scorer.supernet is not _MODELS.get(self.key):
            scorer = Scorer(self._model(data, device), data, proxy, resolution=resolution, config=self.score_config,
                            device=device)
            self._scorers = {key: scorer}
        return scorer

    def __getstate__(self) -> dict[str, Any]:
        state = {**self.__dict__, "_scorers": {}}
        if self._weights is not None:
            state["_weights"] = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in self._weights.items()}
        return state


def make(arg: str | None, *, data: Any, proxy: Any, out: Path | None, space: Any) -> SupernetEvaluator:
    """``supernet:DIR`` or ``supernet``: the factory of :data:`SUPERNET`."""
    if arg:
        return SupernetEvaluator(Path(arg).expanduser(), space=space, data=data, proxy=proxy)
    if out is None:
        raise SupernetError("the supernet evaluator without a folder trains one into the results folder; give one")
    return SupernetEvaluator(Path(out) / AUTO_FOLDER, space=space, data=data, proxy=proxy, train=SupernetConfig())


# The registry entry: effsearch.search.evaluators lists it lazily ("effsearch.supernet.evaluator:SUPERNET")
# and imports this module on the first lookup of "supernet", so that module never imports this package.
SUPERNET = EvaluatorEntry("supernet", make, description=(
    "weight sharing: scored with a trained supernet's weights (supernet:DIR), "
    "or with one trained first into the results folder (supernet)"))
