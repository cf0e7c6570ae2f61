"""The BERT family: BERT, RoBERTa, XLM-R, CamemBERT, DistilBERT and ALBERT share one post-LayerNorm encoder."""
