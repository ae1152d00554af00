"""Pointwise quantities over grids of points, and what they say about a function.

grid          Grid: the points of a box (any dimension), chunked and sharded
quantities    quantity(), field(), plan_field(), directional_profile(): jitted, vmapped fields
points        the curvature of one point: eigvalsh, classify, kind_code, KINDS
critical      critical_points(): Newton on grad f = 0 from a grid of starts
landscape     loss surfaces of model parameters along lines and planes
basins        basins(): where an optimizer goes from each point of a grid
"""

__all__: list[str] = []  # a namespace of modules; the public names are in jaxgrad/__init__.py
