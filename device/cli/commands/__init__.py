"""One module per ``scangate`` subcommand; each defines ``register(subparsers)``."""
