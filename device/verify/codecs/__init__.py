"""Bounded parsers the verify stage stands on: ``base45``, ``cbor`` (depth and item
limits) and ``cose`` (COSE_Sign1 with ES256/PS256). Each raises its own error type on
bad input; the verifier turns those into a DENY with a reason."""
