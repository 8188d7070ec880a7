"""The ``mapds`` command: everyday jobs on gamma-ray sky cubes from the shell.

``mapds info`` describes files, ``mapds convert`` turns FITS into zarr and back, ``mapds stack``
stacks many datasets, ``mapds npred`` / ``mapds residuals`` write model maps, ``mapds fit`` fits
models and ``mapds demo`` runs the whole chain on a simulated survey. Each subcommand is a module of
this package with an ``add_parser`` function and a ``run`` function; ``main`` wires them together
and turns every error into one line on standard error.
"""

from .main import main

__all__ = ["main"]
