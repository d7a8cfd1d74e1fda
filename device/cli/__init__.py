"""The ``scangate`` command line: a thin layer over the library.

Each module in ``device.cli.commands`` and each entry point in the
``scangate.commands`` group (``sim``, ``provisioning``) has a
``register(subparsers)`` function that adds its subcommand(s) and sets
``func=handler``; a handler takes the parsed ``argparse.Namespace`` and returns
the exit status.
"""
