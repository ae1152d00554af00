"""The lab: experiments from configs, their run directories, and what they conclude.

config        the TOML schema: a config file -> a frozen Config (validated once)
experiment    Config -> runs -> the run directory (run_experiment)
rundir        the run directory's files, array keys and summary schema (the one owner)
stats         the selection rule (which setting is best), intervals, rank tests, verdicts
compare       runs or bench outputs side by side
export        TensorBoard event files from a run
bench         the optimizer benchmark behind `jaxgrad bench`
"""

__all__: list[str] = []  # a namespace of modules; the public names are in jaxgrad/__init__.py
