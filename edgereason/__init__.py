"""edgereason: on-device reasoning runtime for small language models."""

__version__ = "0.1.0"
