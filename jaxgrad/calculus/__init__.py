"""Calculus of a function of a point or of a parameter pytree.

derivatives   grad, directional_derivative, jacobian, hessian, hvp (JAX transformations)
numerical     finite differences and check_gradient, the independent reference
expressions   math text -> a jnp function, parsed (never eval'ed)
"""

__all__: list[str] = []  # a namespace of modules; the public names are in jaxgrad/__init__.py
