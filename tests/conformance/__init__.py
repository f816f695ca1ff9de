"""The conformance suite: every op tinygen shares with PyTorch, run on PyTorch's own samples.

``torch.testing._internal.common_methods_invocations.op_db`` lists PyTorch's ops, each with a
sample generator. :mod:`.mapping` finds the tinygen callable for each entry, :mod:`.harness`
runs every sample through both frameworks (forward, first-order VJP, second order) at
float64 tolerances, :mod:`.known_failures` lists the ops that still fail and why,
``test_conformance.py`` is the pytest entry point (one test per op) and :mod:`.report`
writes ``docs/CONFORMANCE.md`` from a run (``python -m tests.conformance.report``).
"""
