"""Experiments: what analysts run on the model (the model never imports this package)."""
