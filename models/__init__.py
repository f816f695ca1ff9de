"""The generative models, one readable file per family, each with its training loop."""
