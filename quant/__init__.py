"""Quantization recipes for both formats, and the accuracy gate."""
