"""Losses and long-tailed methods, each acting at a named seam of the training step."""
