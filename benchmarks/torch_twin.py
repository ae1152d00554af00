"""The default MLP's PyTorch twin for the comparisons with PyHessian and curvlinops: an
``nn.Sequential`` of ``Linear`` and ``Tanh`` with jaxgrad's weights, and the same data."""

from __future__ import annotations

import numpy as np
import torch


def twin(params, X: np.ndarray, y: np.ndarray, loss: float, tol: float):
    """``(model, (inputs, targets))`` with jaxgrad's ``params`` (a tuple of ``{"w": (in, out),
    "b": (out,)}`` layers) and data; checked to give jaxgrad's mean-square ``loss`` within ``tol``."""
    layers = []
    for i, layer in enumerate(params):
        w, b = np.asarray(layer["w"]), np.asarray(layer["b"])
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(w.T)))
            linear.bias.copy_(torch.from_numpy(np.array(b)))
        layers += [linear] + ([torch.nn.Tanh()] if i < len(params) - 1 else [])
    model = torch.nn.Sequential(*layers)
    data = (torch.from_numpy(np.array(X)), torch.from_numpy(np.array(y))[:, None])
    with torch.no_grad():
        torch_loss = float(torch.nn.MSELoss()(model(data[0]), data[1]))
    assert abs(torch_loss - loss) <= tol * abs(torch_loss), "the two models differ"
    return model, data
