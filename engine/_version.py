"""The one version string: the package metadata (pyproject), ``engine.__version__``, ``ripple --version``
and the OpenLineage producer all read it from here."""

__version__ = "0.1.0"
