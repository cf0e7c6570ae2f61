"""Execution helpers around a loaded model (CUDA graphs)."""
