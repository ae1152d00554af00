"""Test-wide JAX switches, set here in the entry point and never by the library."""

import os

import jax

os.environ.setdefault("JAXGRAD_NO_CACHE", "1")  # tests never write a user's cache

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
