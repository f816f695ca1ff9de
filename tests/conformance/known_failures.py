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
    "logaddexp": Known(
        "reference only, torch-side: the double backward at |x - y| ~ 1e3..1e7 is NaN in torch "
        "(its formula overflows) and 0 in tinygen (the true value)",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=4),
    "nn.functional.elu": Known(
        "reference only, torch-side: at NaN inputs torch's vectorized kernel (tensors of >= 64 "
        "entries) gives a NaN gradient where its scalar path, and tinygen, give 1",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=2),
    "nn.functional.prelu": Known(
        "reference only, torch-side: at x == 0 torch's first order uses the weight but its "
        "double backward (d VJP / d upstream) uses slope 1; tinygen uses the weight in both",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=2),
    "nn.functional.celu": Known(
        "reference only, torch-side: at NaN inputs torch's vectorized kernel (tensors of >= 64 "
        "entries) gives a NaN gradient where its scalar path, and tinygen, give 1",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=2),
    "nn.functional.selu": Known(
        "reference only, torch-side: at NaN inputs torch's vectorized kernel (tensors of >= 64 "
        "entries) gives a NaN gradient where its scalar path, and tinygen, give the scale",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=2),
    "nn.functional.mish": Known(
        "reference only, torch-side: the double backward at extreme inputs (|x| ~ 500 and "
        "beyond) is NaN in torch, finite (0) in tinygen",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=2),
    "nn.functional.hardtanh": Known(
        "reference only, torch-side: at NaN inputs torch gives gradient 1 on tensors of < 8 "
        "entries and 0 on larger ones; tinygen always passes it (1)",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=4),
    "nn.functional.relu6": Known(
        "reference only, torch-side: at NaN inputs torch gives gradient 1 on tensors of < 8 "
        "entries and 0 on larger ones; tinygen always passes it (1)",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=4),
    "half": Known(
        "reference only, torch-side: torch rounds float64 -> float16 through float32 (double "
        "rounding), NumPy rounds once: 1-ulp differences on ~0.005% of entries",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=0, reference=4),
    "nn.functional.group_norm": Known(
        "by design: torch's samples pass eps=-0.5, which tinygen refuses (ValueError): eps <= 0 "
        "divides a constant group by zero, all NaN (docs/PORTING.md)",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=4, reference=4),
    "nn.functional.instance_norm": Known(
        "by design: torch's samples update running statistics with momentum -1.2 and -1.0, "
        "which tinygen refuses (ValueError): outside [0, 1] the statistics diverge "
        "(docs/PORTING.md)",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=3, reference=3),
    "nn.functional.layer_norm": Known(
        "by design: torch's samples pass eps=-0.5, which tinygen refuses (ValueError): eps <= 0 "
        "divides a constant row by zero, all NaN (docs/PORTING.md)",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=1, reference=1),
    "nn.functional.batch_norm": Known(
        "by design: a torch sample trains with momentum=-1.0, which tinygen refuses "
        "(ValueError): outside [0, 1] the running statistics diverge (docs/PORTING.md)",
        ACTIVATION_ELEMENTWISE_NORMALIZATION, samples=1, reference=1),
}
