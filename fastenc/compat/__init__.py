"""Interfaces of other libraries answered by fastenc (fairseq's RoBERTa hub interface)."""
