"""Suite-wide settings.

Hypothesis runs derandomized by default, so `make test` (and CI) explores the same
examples on every run and a red build always means a change, never a new random draw.
To hunt for new counterexamples, run with ``HYPOTHESIS_PROFILE=explore`` (random, more
examples); a failure it finds becomes an ``@example`` of the test.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
