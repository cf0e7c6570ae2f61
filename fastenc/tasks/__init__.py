"""Text tasks on a loaded model (embed, classify, tag, fill_mask, mlm_eval), all on one runner (runner.py)."""
