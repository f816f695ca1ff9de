"""The ops whose conformance tests still fail, each with why, whose file it is, and how many
of its samples fail: the list the team works down.

A test of an op listed here with a nonzero count is ``xfail(strict=True)``: it must fail with
exactly that many failing samples. It turns red when the op is fixed (XPASS: lower the count
or remove the entry), and when the count changes either way (update it, or fix the new
failure). ``docs/CONFORMANCE.md`` shows this list.
"""

from __future__ import annotations

from dataclasses import dataclass

# who owns the file a fix goes into
ACTIVATION_ELEMENTWISE_NORMALIZATION = "ops/activation + elementwise + normalization"
REDUCTION_SHAPE_INDEXING_LINALG = "ops/reduction + shape + indexing + linalg"
POOLING_CONV_DROPOUT_RECURRENT = "ops/pooling + conv + dropout + recurrent"
LOSS_CREATION = "ops/loss + creation"
TENSOR_SURFACE = "tensor surface (tensor_methods, backend, comparison)"

OWNERS = (ACTIVATION_ELEMENTWISE_NORMALIZATION, REDUCTION_SHAPE_INDEXING_LINALG,
          POOLING_CONV_DROPOUT_RECURRENT, LOSS_CREATION, TENSOR_SURFACE)


@dataclass(frozen=True)
class Known:
    """Why an op's conformance tests fail today.

    Attributes:
        reason: the mismatch, in a sentence (what torch does, what tinygen does).
        owner: one of :data:`OWNERS`.
        samples: how many of the op's capped ``sample_inputs`` fail (the ci test).
        reference: how many of its ``reference_inputs`` fail (the slow test).
    """

    reason: str
    owner: str
    samples: int
    reference: int


#: op_db entry id -> why it fails today
KNOWN_FAILURES: dict[str, Known] = {
}
