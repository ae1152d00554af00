"""Curvature of a model's loss in parameter space, matrix-free.

spectrum      top_eigenvalues (Lanczos), hessian_trace (Hutchinson), spectral_density (SLQ),
              layer_curvature: from Hessian-vector products, or from any operator below
operators     curvature_operator(problem, params, kind): Hessian, GGN, Fisher, Monte Carlo
              Fisher, empirical Fisher, matrix-free; curvature_diagonal; solve (damped CG)
"""

__all__: list[str] = []  # a namespace of modules; the public names are in jaxgrad/__init__.py
