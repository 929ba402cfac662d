"""The ipscreen domain: works registry, screening pipelines, fusion, decisions and the CLI."""

__version__ = "0.1.0"
