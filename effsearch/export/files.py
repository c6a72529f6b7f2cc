"""Writing and checking the deployment files of a finished training; loading a trained model back.

Every file is checked by its real consumer before it is declared written: the ``torch.export``
archive is loaded back and run, the ONNX file runs in onnxruntime, and both must give PyTorch's
outputs on the same batch within :data:`TOLERANCE`. ``export.json`` records the files, the
differences measured and how to feed the network (resolution, scale, mean, std, class names).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from effsearch.arch.builder import build_model
from effsearch.arch.specio import load_spec
from effsearch.errors import EffsearchError
from effsearch.runtime.files import atomic_path, atomic_write_json
from effsearch.runtime.results import check_writable
from effsearch.train import folder as files

FORMATS = ("torch-export", "onnx", "timm")
TOLERANCE = 1e-4  # largest absolute difference from PyTorch's logits a written file may show
OPSET = 18


class ExportError(EffsearchError):
    """A training folder cannot be exported or loaded (unfinished, foreign, or a file that fails its check)."""


def _finished(folder: Path) -> dict[str, Any]:
    meta = files.read_meta(folder)
    if meta is None:
        raise ExportError(f"{folder} holds no training ({files.META} is missing); train a network there first")
    if meta.get("status") != "done" or not (folder / files.WEIGHTS).is_file():
        raise ExportError(f"the training in {folder} is not finished ({meta.get('epochs_done', 0)} epochs so far); "
                          "run its training again to finish it")
    return meta


def load_trained(folder: str | Path, *, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained network of a finished training folder, in eval mode on ``device``.

    Built from the folder's ``spec.yaml`` with PyTorch's layers and loaded strictly from
    ``model.safetensors``; feed it images prepared as :func:`read_preprocess` says.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    _finished(folder)
    spec = load_spec(folder / files.SPEC)
    model = build_model(spec)
    try:
        weights = load_file(str(folder / files.WEIGHTS))
        model.load_state_dict(weights, strict=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise ExportError(f"{folder / files.WEIGHTS} does not hold this folder's network {spec.name!r} "
                          f"({type(exc).__name__}: {text}); train it again") from None
    return model.eval().to(device)


def read_preprocess(folder: str | Path) -> dict[str, Any]:
    """How inputs are prepared for the model in ``folder``: ``x * scale``, minus ``mean``, over ``std``, per channel."""
    path = Path(folder) / files.METRICS
    try:
        return json.loads(path.read_text())["preprocess"]
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{path} cannot be read ({type(exc).__name__}); train the network there again") from None


def _sample(model: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    spec = model.spec
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, spec.in_chans, spec.resolution, spec.resolution, generator=gen)


def _largest_difference(a: torch.Tensor, b: Any) -> float:
    return float((torch.as_tensor(b).float() - a.float()).abs().max())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress lines and notes (passes run, optional torchvision ops skipped)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [log.level for log in loggers]
    try:
        for log in loggers:
            log.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _checked(path: Path, diff: float) -> float:
    """``diff`` if ``path``'s outputs are PyTorch's within :data:`TOLERANCE`; else refuse (nothing is then written)."""
    if not diff <= TOLERANCE:
        raise ExportError(f"{path.name} would give outputs {diff:.3g} away from PyTorch's (more than {TOLERANCE:g}); "
                          "it was not written")
    return diff


def write_torch_export(model: torch.nn.Module, path: Path) -> float:
    """``torch.export`` archive with a dynamic batch size; the difference from ``model`` after loading it back."""
    x = _sample(model)
    with atomic_path(path) as tmp:  # checked before it replaces ``path``; torch.export wants the .pt2 ending it keeps
        with _quiet():
            program = torch.export.export(model, (x,), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}})
            torch.export.save(program, tmp)
        with torch.no_grad(), _quiet():
            return _checked(path, _largest_difference(model(x), torch.export.load(tmp).module()(x)))


def write_onnx(model: torch.nn.Module, path: Path) -> float:
    """ONNX (opset :data:`OPSET`, dynamic batch) run in onnxruntime; its difference from ``model``."""
    import onnxruntime as ort

    x = _sample(model)
    with atomic_path(path) as tmp:
        with _quiet():
            torch.onnx.export(model, (x,), str(tmp), dynamo=True, opset_version=OPSET, input_names=["images"],
                              output_names=["logits"], dynamic_shapes={"x": {0: "batch"}}, verbose=False,
                              external_data=False)  # one self-contained file (weights inside: networks here are far below 2 GB)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": x.numpy()})[0]
        with torch.no_grad():
            return _checked(path, _largest_difference(model(x), got))


def write_timm(model: torch.nn.Module, folder: Path) -> dict[str, Any]:
    """timm's state dict (``model.safetensors``) and ``config.json`` (arch_def, builder arguments), when timm rebuilds it."""
    from safetensors.torch import save_file

    from effsearch.arch.timmcompat import timm_export, timm_state_dict

    export = timm_export(model.spec)
    info = {"faithful": export.faithful, "buildable": export.buildable, "differs": export.differs,
            "arch_def": export.arch_def, "kwargs": export.kwargs}
    if not export.faithful:
        return info | {"written": False}
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in timm_state_dict(model.state_dict()).items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    atomic_write_json(folder / "config.json", info)
    return info | {"written": True}


def timm_not_written(info: dict[str, Any]) -> str:
    """Why the timm files were not written, in one line (from ``export.json``'s ``timm`` entry)."""
    reasons = "; ".join(info["differs"][:2])
    if info.get("buildable", True):
        return f"not written: timm builds another network ({reasons})"
    return f"not offered: timm's EfficientNet builder cannot build this network ({reasons})"


def export_model(folder: str | Path, *, formats: tuple[str, ...] = FORMATS) -> dict[str, Any]:
    """Write ``export/`` for the finished training in ``folder``; the contents of ``export/export.json``."""
    folder = Path(folder)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format {unknown[0]!r}; use {', '.join(FORMATS)}")
    _finished(folder)
    out = folder / files.EXPORT
    check_writable(out, what="export folder")
    model = load_trained(folder)
    out.mkdir(exist_ok=True)
    record: dict[str, Any] = {"name": model.spec.name, "weights": files.WEIGHTS, "preprocess": read_preprocess(folder),
                              "input": [1, model.spec.in_chans, model.spec.resolution, model.spec.resolution],
                              "tolerance": TOLERANCE, "files": {}, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    writers = {"torch-export": ("model.pt2", write_torch_export), "onnx": ("model.onnx", write_onnx)}
    for fmt in formats:
        if fmt == "timm":
            record["timm"] = write_timm(model, out / "timm")
            if record["timm"]["written"]:
                record["files"]["timm"] = "timm/model.safetensors"
            continue
        name, write = writers[fmt]
        record[f"{fmt}_max_abs_diff"] = write(model, out / name)
        record["files"][fmt] = name
    atomic_write_json(out / "export.json", record)
    return record
