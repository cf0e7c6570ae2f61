"""fastenc: fast, faithful inference for BERT-family encoders."""
__version__ = "0.1.0"
