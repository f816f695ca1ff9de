"""Models trained with tinygen, each a module file with its own visible training loop."""
