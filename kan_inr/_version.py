"""The package version, read by the facade, config.json and benchmark files."""

__version__ = "0.1.0"
