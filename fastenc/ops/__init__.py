"""Operations of the forward pass: the PyTorch reference ops and the packed-batch format."""
