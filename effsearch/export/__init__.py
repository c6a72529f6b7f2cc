"""Deployment files for a trained network, and one call that loads a trained model back.

``export_model(folder)`` writes ``export/`` next to a finished training (:mod:`effsearch.train`):
``model.pt2`` (``torch.export``), ``model.onnx`` (checked against PyTorch with onnxruntime) and
``timm/`` (timm's state-dict names and the ``arch_def`` that rebuilds the network in timm).
``load_trained(folder)`` returns the trained ``torch.nn.Module``, ready for inference.
"""

from effsearch.export.files import ExportError, export_model, load_trained, read_preprocess

__all__ = ["ExportError", "export_model", "load_trained", "read_preprocess"]
