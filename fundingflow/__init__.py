"""The fundingflow shell: CLI, settings, logging, the local stack, the live view."""

__version__ = "0.1.0"
