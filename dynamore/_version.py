"""The package version, in a module of its own so that submodules (the CLI) need not import
the package ``dynamore`` back to print it."""

__all__ = ["__version__"]

__version__ = "0.2.0.dev0"
