"""What the net table says about the run as a whole, for rules and pictures alike."""
from __future__ import annotations

import math

import pandas as pd

SOFTMAX_LOSSES = {"SoftmaxWithLoss"}


def train_net(net: pd.DataFrame) -> pd.DataFrame:
    """The train net's layers, each once (its latest construction when the log was resumed)."""
    return net[(net["net"] == "train").to_numpy()].drop_duplicates("layer", keep="last")


def softmax_classes(train: pd.DataFrame) -> int | None:
    """K of the one SoftmaxWithLoss over a (N, K, ...) input: None for other losses, or for
    several losses whose sum has no single chance level."""
    losses = train[train["type"].isin(SOFTMAX_LOSSES).to_numpy()]
    weighted = train[(train["loss_weight"].fillna(0) > 0).to_numpy()]
    if len(losses) != 1 or len(weighted) > 1:
        return None
    blob = losses["bottoms"].iloc[0][0] if len(losses["bottoms"].iloc[0]) else None
    for tops, shapes in zip(train["tops"], train["top_shapes"]):
        if blob in tops:
            at = list(tops).index(blob)
            shape: tuple = shapes[at] if len(shapes) > at else ()
            return int(shape[1]) if len(shape) >= 2 and shape[1] >= 2 else None
    return None


def chance_loss(train: pd.DataFrame) -> float | None:
    """ln K: the softmax loss of a net that predicts uniformly (None when K is unknown)."""
    k = softmax_classes(train)
    return math.log(k) if k else None
