"""Save and load a trained MLP as a plain .npz file (no pickle)."""

import json
from pathlib import Path

import numpy as np

from .model import MLP

FORMAT = "backprop-course-mlp/1"


def save_model(model, path, history=None):
    """Write the MLP's sizes, activation, parameters (and optional history) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "sizes": model.sizes,
        "activation": model.activation,
        "history": history.as_dict() if history is not None else None,
    }
    arrays = {f"param/{key}": value for key, value in model.state().items()}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def load_model(path):
    """Rebuild the MLP saved by ``save_model``; returns (model, history dict or None).

    Raises ValueError naming the problem for a file that is not such a model (the CLI
    prints it and exits with status 2)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"unknown format {meta.get('format')!r}")
            missing = [key for key in ("sizes", "activation") if key not in meta]
            if missing:
                raise ValueError(f"its description has no {' or '.join(missing)}")
            params = {key.removeprefix("param/"): data[key] for key in data.files if key != "meta"}
    except (OSError, KeyError, ValueError, AttributeError) as error:
        raise ValueError(f"{path} is not a model saved by save_model: {error}") from None
    model = MLP(meta["sizes"], meta["activation"], dtype=_dtype(params, path))
    state = model.state()
    if set(state) != set(params):
        raise ValueError(f"{path}: saved parameters {sorted(params)} do not match the model")
    for key, value in params.items():
        layer_index, name = key.split(".")
        layer = model.layers[int(layer_index)]
        if getattr(layer, name).shape != value.shape:
            raise ValueError(
                f"{path}: parameter {key} has shape {value.shape}, "
                f"expected {getattr(layer, name).shape}"
            )
        setattr(layer, name, value.copy())
    return model, meta.get("history")


def _dtype(params, path):
    """The dtype of the saved parameters (the first layer's weights)."""
    if "0.W" not in params:
        raise ValueError(
            f"{path}: no parameter 0.W (the first layer's weights) among the saved "
            f"parameters {sorted(params)}; save the model with save_model"
        )
    return params["0.W"].dtype
