"""One module per ``scangate sim`` subcommand; each defines ``register(subparsers)``."""
