"""``scangate provision ...``: the field technician's commands (registered by entry point).

    scangate provision enroll  --config FILE --central URL --token T --gate G --ca-fingerprint FP
    scangate provision enroll  --config FILE --voucher TEXT
    scangate provision replace --config FILE --central URL --token T --gate G --ca-fingerprint FP
    scangate provision status  --config FILE [--online] [--json]
    scangate provision retire  --config FILE [--bundle FILE] [--receipt FILE]

Every refusal is one line on stderr and a non-zero exit; nothing on the terminal changes
(docs/provisioning.md lists every message and what to do).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "provision",
        help="the field technician's tools: enrol, replace, status, retire a terminal",
        description="Give this terminal its identity at the centre (enrol, replace), show it "
        "(status), or hand its records in and wipe it (retire). See docs/provisioning.md.",
    )
    sub = parser.add_subparsers(dest="provision_command", metavar="ACTION")
    sub.required = True
    from provisioning import commands

    commands.register(sub)
