"""Specs for PyTorch's losses in ``tinygen.nn.functional`` (``tinygen.autograd.ops.loss``):
class weights, ignored targets, label smoothing, probability targets, broadcasting weights,
0-d and unbatched inputs. (The plain binary cross-entropy on logits, cross-entropy, MSE and
the density terms have their specs in ``op_specs_nn``.)

Each reference is NumPy written from the loss's definition (PyTorch's documentation), not
from tinygen's code. Element domains keep every loss on a smooth piece: probabilities in
[0.05, 0.95], differences away from the kinks of |d| and of the Huber/smooth-L1 joints,
hinge arguments away from 0, Poisson counts away from the Stirling term's switch at 1. All
are then twice differentiable, so every spec has order 2.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import loss
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, away_from_kinks, floats, shapes

REAL = floats()
PROBABILITY = floats(0.05, 0.95)
POSITIVE = floats(0.1, 3.0)
WEIGHT = floats(0.5, 2.0)  # class weights: positive, so a weighted mean never divides by 0
REDUCTION = st.sampled_from(["mean", "sum", "none"])
IGNORE = -100  # PyTorch's default ignore_index


def _reduce(values, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](values)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _reduction_only():
    return st.fixed_dictionaries({"reduction": REDUCTION})


def _suffix_shape(shape):
    """A shape that broadcasts to ``shape`` and is no larger (weights of binary losses)."""
    return st.integers(0, len(shape)).flatmap(
        lambda keep: st.tuples(*(st.sampled_from([1, size]) for size in shape[len(shape)
                                                                            - keep:])))


# --------------------------------------------------------------------------- binary
@st.composite
def _binary_inputs(draw, first):
    """(input, target, weight): input's shape (0-d included), a weight broadcasting to it."""
    shape = draw(shapes(min_dims=0))
    return (draw(arrays(shape, elements=first)), draw(arrays(shape, elements=floats(0, 1))),
            draw(arrays(draw(_suffix_shape(shape)), elements=WEIGHT)))


def _bce_reference(p, y, weight, reduction):
    return _reduce(-(y * np.log(p) + (1 - y) * np.log(1 - p)) * weight, reduction)


register(OpSpec("binary_cross_entropy", loss.binary_cross_entropy, _bce_reference,
                _binary_inputs(PROBABILITY), kwargs=_reduction_only()))


@st.composite
def _logit_inputs(draw):
    """(logits, target, weight, pos_weight): pos_weight one per entry of the last axis."""
    logits, target, weight = draw(_binary_inputs(REAL))
    classes = logits.shape[-1:] if logits.ndim else ()
    return logits, target, weight, draw(arrays(classes, elements=WEIGHT))


def _bce_logits_reference(z, y, weight, pos_weight, reduction):
    # -w [p y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]
    per_element = pos_weight * y * _softplus(-z) + (1 - y) * _softplus(z)
    return _reduce(weight * per_element, reduction)


register(OpSpec(
    "binary_cross_entropy_with_logits_weighted", loss.binary_cross_entropy_with_logits,
    _bce_logits_reference, _logit_inputs(), kwargs=_reduction_only(),
    call=lambda z, y, weight, pos_weight, reduction: loss.binary_cross_entropy_with_logits(
        z, y, weight=weight, reduction=reduction, pos_weight=pos_weight),
))


# --------------------------------------------------------------------------- classes
def _class_shapes():
    """Input shapes (C,), (N, C) and (N, C, d)."""
    return st.one_of(st.tuples(st.integers(1, 4)),
                     st.tuples(st.integers(1, 4), st.integers(1, 4)),
                     st.tuples(st.integers(1, 2), st.integers(2, 3), st.integers(1, 3)))


def _target_shape(shape):
    return () if len(shape) == 1 else shape[:1] + shape[2:]


@st.composite
def _index_inputs(draw, probabilities=False):
    """(scores, target[, weight]): class indices with some IGNORE (never the first, so
    something is always counted), or with ``probabilities`` a float target of the scores'
    shape; the (C,) weight is drawn half the time."""
    shape = draw(_class_shapes())
    classes = shape[0] if len(shape) == 1 else shape[1]
    if probabilities:
        target = draw(arrays(shape, elements=floats(0.0, 1.0)))
    else:
        target = draw(arrays(_target_shape(shape), dtype=np.int64,
                             elements=st.sampled_from([*range(classes), IGNORE])))
        target.reshape(-1)[:1] = draw(st.integers(0, classes - 1))
    drawn = [draw(arrays(shape, elements=REAL)), target]
    if draw(st.booleans()):
        drawn.append(draw(arrays((classes,), elements=WEIGHT)))
    return tuple(drawn)


def _classes_last(x):
    """(C,) stays; (N, C, d...) -> (N, d..., C)."""
    return x if x.ndim == 1 else np.moveaxis(x, 1, -1)


def _log_softmax(x):
    axis = 0 if x.ndim == 1 else 1
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _index_reference(log_probs, target, weight=None, reduction="mean", label_smoothing=0.0):
    """sum_i of (1 - eps) (-w[t_i] lp[i, t_i]) + eps/C (-sum_c w_c lp[i, c]) over counted i;
    "mean" divides by sum_i w[t_i] over the counted."""
    lp = _classes_last(log_probs)
    classes = lp.shape[-1]
    weight = np.ones(classes) if weight is None else weight
    counted = target != IGNORE
    safe = np.where(counted, target, 0)
    picked = np.take_along_axis(lp, safe[..., None], axis=-1)[..., 0]
    nll = -weight[safe] * picked * counted
    smooth = -(lp * weight).sum(axis=-1) * counted
    per_position = (1 - label_smoothing) * nll + label_smoothing / classes * smooth
    if reduction == "mean":
        return per_position.sum() / (weight[safe] * counted).sum()
    return _reduce(per_position, reduction)


register(OpSpec(
    "nll_loss", loss.nll_loss, _index_reference, _index_inputs(), kwargs=_reduction_only(),
    call=lambda x, t, *weight, reduction: loss.nll_loss(x, t, *weight, reduction=reduction),
))

_SMOOTHING = st.fixed_dictionaries({"reduction": REDUCTION,
                                    "label_smoothing": st.sampled_from([0.0, 0.1, 0.35])})


def _cross_entropy_call(x, t, *weight, **kwargs):
    return loss.cross_entropy(x, t, *weight, **kwargs)


register(OpSpec(
    "cross_entropy_weighted_smoothed", loss.cross_entropy,
    lambda x, t, *weight, **kwargs: _index_reference(_log_softmax(x), t, *weight, **kwargs),
    _index_inputs(), kwargs=_SMOOTHING, call=_cross_entropy_call,
))


def _probability_reference(x, target, weight=None, reduction="mean", label_smoothing=0.0):
    """-sum_c w_c t_c lp_c per position, t smoothed to (1 - eps) t + eps / C; "mean" over
    the positions."""
    lp, t = _classes_last(_log_softmax(x)), _classes_last(target)
    classes = lp.shape[-1]
    weight = np.ones(classes) if weight is None else weight
    t = (1 - label_smoothing) * t + label_smoothing / classes
    per_position = -(lp * t * weight).sum(axis=-1)
    return _reduce(per_position, reduction)


register(OpSpec("cross_entropy_probabilities", loss.cross_entropy, _probability_reference,
                _index_inputs(probabilities=True), kwargs=_SMOOTHING, call=_cross_entropy_call))


# --------------------------------------------------------------------------- kl_div
def _broadcasting_pair(first, second):
    return st.tuples(shapes(min_dims=0), st.booleans()).flatmap(
        lambda drawn: st.tuples(
            arrays(drawn[0], elements=first),
            arrays(drawn[0] if drawn[1] else drawn[0][1:], elements=second)))


def _kl_reference(x, t, reduction, log_target):
    pointwise = np.exp(t) * (t - x) if log_target else t * (np.log(t) - x)
    if reduction == "batchmean":
        return pointwise.sum() / (x.shape[0] if x.ndim else 1)
    return _reduce(pointwise, reduction)


# positive targets: probabilities, or (log_target) log-probabilities, where any real will do
register(OpSpec(
    "kl_div", loss.kl_div, _kl_reference, _broadcasting_pair(REAL, floats(0.05, 1.0)),
    kwargs=st.fixed_dictionaries({"reduction": st.sampled_from(["batchmean", "sum", "none"]),
                                  "log_target": st.booleans()}),
))


# --------------------------------------------------------------------------- regression
# the joints of smooth_l1 (|d| = beta) and huber (|d| = delta) for the betas and deltas drawn,
# and the kink of |d| at 0
_JOINTS = (0.0, -0.5, 0.5, -1.0, 1.0, -2.0, 2.0)


@st.composite
def _difference_inputs(draw, weighted):
    """(input, target[, weight]) with input - target away from every joint."""
    shape = draw(shapes(min_dims=0))
    x = draw(arrays(shape, elements=REAL))
    difference = draw(arrays(shape, elements=away_from_kinks(_JOINTS, margin=0.1)))
    drawn = [x, x - difference]
    if weighted:
        drawn.append(draw(arrays(shape, elements=WEIGHT)))
    return tuple(drawn)


def _weighted_reference(pointwise, weight, reduction, mean_by_weight=True):
    if weight is None:
        return _reduce(pointwise, reduction)
    if reduction == "mean" and mean_by_weight:
        return (pointwise * weight).sum() / weight.sum()
    return _reduce(pointwise * weight, reduction)


register(OpSpec(
    "l1_loss", loss.l1_loss,
    lambda x, t, *weight, reduction: _weighted_reference(np.abs(x - t), *weight or (None,),
                                                         reduction),
    st.booleans().flatmap(_difference_inputs), kwargs=_reduction_only(),
    call=lambda x, t, *weight, reduction: loss.l1_loss(x, t, reduction=reduction,
                                                       weight=weight[0] if weight else None),
))
register(OpSpec(
    "mse_loss_weighted", loss.mse_loss,
    lambda x, t, weight, reduction: _weighted_reference((x - t) ** 2, weight, reduction),
    _difference_inputs(weighted=True), kwargs=_reduction_only(),
    call=lambda x, t, weight, reduction: loss.mse_loss(x, t, reduction=reduction,
                                                       weight=weight),
))


def _smooth_l1_reference(x, t, reduction, beta):
    d = np.abs(x - t)
    pointwise = d if beta == 0 else np.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta)
    return _reduce(pointwise, reduction)


register(OpSpec(
    "smooth_l1_loss", loss.smooth_l1_loss, _smooth_l1_reference,
    _difference_inputs(weighted=False),
    kwargs=st.fixed_dictionaries({"reduction": REDUCTION,
                                  "beta": st.sampled_from([0.0, 0.5, 1.0, 2.0])}),
))


def _huber_reference(x, t, *weight, reduction, delta):
    d = np.abs(x - t)
    pointwise = np.where(d < delta, 0.5 * d ** 2, delta * (d - 0.5 * delta))
    return _weighted_reference(pointwise, *weight or (None,), reduction, mean_by_weight=False)


register(OpSpec(
    "huber_loss", loss.huber_loss, _huber_reference, st.booleans().flatmap(_difference_inputs),
    kwargs=st.fixed_dictionaries({"reduction": REDUCTION,
                                  "delta": st.sampled_from([0.5, 1.0, 2.0])}),
    call=lambda x, t, *weight, reduction, delta: loss.huber_loss(
        x, t, reduction=reduction, delta=delta, weight=weight[0] if weight else None),
))


@st.composite
def _gaussian_inputs(draw):
    """(input, target, var): var of input's shape, without its last axis, or with one
    axis of size 1."""
    shape = draw(shapes(min_dims=1))
    choices = [shape, shape[:-1]]
    axis = draw(st.integers(0, len(shape) - 1))
    if shape[axis] != 1:
        choices.append(shape[:axis] + (1,) + shape[axis + 1:])
    var_shape = draw(st.sampled_from(choices))
    return (draw(arrays(shape, elements=REAL)), draw(arrays(shape, elements=REAL)),
            draw(arrays(var_shape, elements=POSITIVE)))


def _gaussian_reference(x, t, var, full, reduction):
    if var.shape == x.shape[:-1]:
        var = var[..., None]
    pointwise = 0.5 * (np.log(var) + (x - t) ** 2 / var) + (0.5 * math.log(2 * math.pi)
                                                             if full else 0.0)
    return _reduce(pointwise, reduction)


register(OpSpec(
    "gaussian_nll_loss", loss.gaussian_nll_loss, _gaussian_reference, _gaussian_inputs(),
    kwargs=st.fixed_dictionaries({"full": st.booleans(), "reduction": REDUCTION}),
))

# counts on both sides of the Stirling term's switch at 1, never at it
_COUNTS = st.one_of(floats(0.0, 0.8), floats(1.2, 4.0))


def _poisson_reference(x, t, log_input, full, reduction):
    pointwise = np.exp(x) - t * x if log_input else x - t * np.log(x + 1e-8)
    if full:
        big = np.where(t > 1, t, 2.0)
        stirling = big * np.log(big) - big + 0.5 * np.log(2 * np.pi * big)
        pointwise = pointwise + np.where(t > 1, stirling, 0.0)
    return _reduce(pointwise, reduction)


register(OpSpec(
    "poisson_nll_loss", loss.poisson_nll_loss, _poisson_reference,
    shapes(min_dims=0).flatmap(lambda shape: st.tuples(arrays(shape, elements=POSITIVE),
                                                       arrays(shape, elements=_COUNTS))),
    kwargs=st.fixed_dictionaries({"log_input": st.booleans(), "full": st.booleans(),
                                  "reduction": REDUCTION}),
))


# --------------------------------------------------------------------------- margins
_MARGINS = (0.0, 0.5)
_SIGNS = st.sampled_from([-1.0, 1.0])


@st.composite
def _ranking_inputs(draw):
    """(x1, x2, y) with the hinge's argument -y (x1 - x2) + margin away from 0 for every
    margin drawn."""
    shape = draw(shapes(min_dims=1))
    x1 = draw(arrays(shape, elements=REAL))
    y = draw(arrays(shape, elements=_SIGNS))
    gap = draw(arrays(shape, elements=away_from_kinks(tuple(-m for m in _MARGINS))))
    return x1, x1 + gap * y, y  # -y (x1 - x2) = gap


register(OpSpec(
    "margin_ranking_loss", loss.margin_ranking_loss,
    lambda x1, x2, y, margin, reduction: _reduce(np.maximum(0, -y * (x1 - x2) + margin),
                                                 reduction),
    _ranking_inputs(),
    kwargs=st.fixed_dictionaries({"margin": st.sampled_from(_MARGINS),
                                  "reduction": REDUCTION}),
))


def _hinge_reference(x, y, margin, reduction):
    return _reduce(np.where(y == 1, x, np.maximum(0, margin - x)), reduction)


# integer labels: the loss switches on y's value, so y is no differentiable input
register(OpSpec(
    "hinge_embedding_loss", loss.hinge_embedding_loss, _hinge_reference,
    shapes(min_dims=0).flatmap(lambda shape: st.tuples(
        arrays(shape, elements=away_from_kinks((0.5, 1.0))),
        arrays(shape, dtype=np.int64, elements=st.sampled_from([-1, 1])))),
    kwargs=st.fixed_dictionaries({"margin": st.sampled_from([0.5, 1.0]),
                                  "reduction": REDUCTION}),
))
register(OpSpec(
    "soft_margin_loss", loss.soft_margin_loss,
    lambda x, y, reduction: _reduce(np.log1p(np.exp(-y * x)), reduction),
    shapes(min_dims=0).flatmap(lambda shape: st.tuples(arrays(shape, elements=REAL),
                                                       arrays(shape, elements=REAL))),
    kwargs=_reduction_only(),
))
