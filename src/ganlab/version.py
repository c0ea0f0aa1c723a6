"""The package's version, in a module of its own: meta.json, downloads' User-Agent and the CLI
read it without importing the training API."""

__version__ = "0.1.0"
