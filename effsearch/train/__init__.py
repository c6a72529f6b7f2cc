"""Training a network to keep (``effsearch train``): full recipe, checkpoints, resume, test-split score."""

from effsearch.train.config import TRAIN_AUGMENT, TrainConfig
from effsearch.train.folder import TrainError
from effsearch.train.network import MODES, network_for
from effsearch.train.run import Training, train_model

__all__ = ["MODES", "TRAIN_AUGMENT", "TrainConfig", "TrainError", "Training", "network_for", "train_model"]
