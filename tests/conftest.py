"""Test-wide JAX switches, set here in the entry point and never by the library."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
