"""The fundingflow shell: CLI, settings, logging, errors."""

__version__ = "0.1.0"
