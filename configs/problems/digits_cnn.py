"""A small convolutional network on scikit-learn's 8x8 digits, written as a Flax NNX module
(a user-model example: ``jg.problems.from_module`` turns it into a problem).

Two 3x3 convolutions (4 and 8 channels, ReLU, 2x2 average pooling after the first) and a
linear layer to the 10 classes: 1,650 parameters; 500 images train, 300 others test.
"""

import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxgrad as jg


class CNN(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 4, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(4, 8, kernel_size=(3, 3), rngs=rngs)
        self.out = nnx.Linear(4 * 4 * 8, 10, rngs=rngs)

    def __call__(self, x):  # x: (n, 8, 8, 1)
        x = nnx.avg_pool(nnx.relu(self.conv1(x)), window_shape=(2, 2), strides=(2, 2))
        x = nnx.relu(self.conv2(x))
        return self.out(x.reshape(x.shape[0], -1))


def make(train: int = 500, test: int = 300, seed: int = 0):
    """``train`` and ``test`` images drawn without overlap (a seeded permutation of the 1,797):
    the engine evaluates the full training loss and the test metrics at every step, so a
    laptop-sized subset keeps the config under a minute."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:train], order[train:train + test]
    return jg.problems.from_module(lambda key: CNN(nnx.Rngs(key)), (jnp.asarray(X[train]), jnp.asarray(y[train])),
                                   "cross_entropy", test_data=(jnp.asarray(X[test]), jnp.asarray(y[test])),
                                   name="cnn on digits")
