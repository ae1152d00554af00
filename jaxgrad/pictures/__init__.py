"""Everything a person looks at: figures, tables, the terminal and the page.

plots         matplotlib figures, one function per plot kind (NumPy in, no JAX)
house         the house style: identities, figure and legend helpers, polish, save_figure
report        a finished run directory -> its figures (reads files, never calls JAX)
tables        the results tables (terminal and page share them)
terminal      printing at 80 columns
page          the run's index.html
explore       `jaxgrad check`: what one function does at a point, in words and figures
"""

__all__: list[str] = []  # a namespace of modules; the public names are in jaxgrad/__init__.py
