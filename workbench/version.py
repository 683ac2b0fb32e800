"""The workbench's version, as installed (``pyproject.toml`` is its one source).

At the bottom of the package: the registry's code digest, the service's ``/health``
and ``workbench --version`` read it without importing the package's face.
"""

from importlib.metadata import version

__all__ = ["__version__"]

__version__ = version("village-workbench")
