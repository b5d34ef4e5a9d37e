"""The package version, kept beside the code so importing it costs nothing."""

__version__ = "0.1.0"
