"""fastenc as an NVIDIA Triton Inference Server model (Python backend): model.py, its config.pbtxt template, and the
writer of a model-repository folder (`fastenc triton-repo`)."""
