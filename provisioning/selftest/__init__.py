"""``scangate selftest``: a field technician's check of one terminal, line by line.

    from provisioning.selftest.context import Context
    from provisioning.selftest.options import Options
    from provisioning.selftest.runner import run_selftest
    results = run_selftest(Context(load_config(path), Options()), on_result=print)

Modules, one per group of checks: ``camera``, ``readers`` (serial, keyboard), ``gate``
(relay, LEDs, buzzer), ``clock``, ``storage`` (disk space, journal integrity),
``trust`` (trust-list age), ``centre`` (reachable, mutual TLS, certificate days left).
``daemon`` finds a running daemon (and what the self-test then leaves alone),
``identity`` is the one place that knows where the centre and TLS identity are
configured, ``options`` the technician's knobs, ``runner`` orders the checks, ``report``
prints, ``cli`` registers the command (importing little, so ``scangate --help`` stays
fast). See docs/selftest.md.
"""
