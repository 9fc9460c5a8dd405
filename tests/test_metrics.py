"""gpudnn.metrics standalone, on host arrays, against independent references.

Each metric's ``update_state`` / ``result`` over several batches (with and without
``sample_weight``) is compared with a hand-written NumPy statement of Keras 3's formula (the
comparisons in float32, as Keras's metrics compute), with the examples of Keras's own docstrings,
and -- for precision, recall and ROC AUC -- with scikit-learn on the same predictions (AUC within
the error of Keras's 200 thresholds, bounded exactly below). The device path is
tests/test_metrics_ops.py (the ops of every backend) and tests/test_metrics_training.py (in a
model's step).
"""

import numpy as np
import pytest

import gpudnn
from gpudnn import metrics
from gpudnn.errors import InvalidInputError, UnknownNameError

F32 = np.float32


def batches(rng, n=300, k=4, parts=3):
    """(y_true 0/1, y_pred in [0, 1], weights) split in ``parts`` batches, with ties and values
    exactly on 0, 0.5 and 1."""
    p = rng.random((n, k)).astype(F32)
    p[:8] = np.array([0, 0.5, 1, 0.25], F32)[: k]
    y = (rng.random((n, k)) < 0.3).astype(F32)
    w = rng.random(n).astype(F32) * 2
    cut = np.linspace(0, n, parts + 1).astype(int)
    return [(y[a:b], p[a:b], w[a:b]) for a, b in zip(cut, cut[1:])], (y, p, w)


def run(metric, parts, weighted):
    metric.reset_state()
    for y, p, w in parts:
        metric.update_state(y, p, sample_weight=w if weighted else None)
    return metric.result()


def weighted_mean(values, w):
    return float(np.sum(values * w) / np.sum(w))


# ------------------------------------------------------------ hand-written Keras formulas
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_metrics_equal_keras_formulas(weighted):
    rng = np.random.default_rng(0)
    parts, (y, p, w) = batches(rng)
    w = w.astype(np.float64) if weighted else np.ones(len(y))
    labels = rng.integers(0, 4, len(y))
    onehot = np.eye(4, dtype=F32)[labels]
    acc_y = np.round(rng.random((len(y), 3)) * 2).astype(F32)  # Accuracy compares exactly
    acc_p = np.round(rng.random((len(y), 3)) * 2).astype(F32)
    cases = [
        (metrics.Accuracy(), (acc_y, acc_p), np.mean(acc_y == acc_p, axis=1)),
        (metrics.BinaryAccuracy(), (y, p), np.mean(y == (p > F32(0.5)), axis=1)),
        (metrics.BinaryAccuracy(threshold=0.3), (y, p), np.mean(y == (p > F32(0.3)), axis=1)),
        # Keras takes any threshold: 0.0 for logits
        (metrics.BinaryAccuracy(threshold=0.0), (y, p - F32(0.5)),
         np.mean(y == (p - F32(0.5) > 0), axis=1)),
        (metrics.CategoricalAccuracy(), (onehot, p), np.argmax(p, 1) == labels),
        (metrics.SparseCategoricalAccuracy(), (labels, p), np.argmax(p, 1) == labels),
        (metrics.MeanSquaredError(), (y, p), np.mean((p.astype(np.float64) - y) ** 2, axis=1)),
        (metrics.MeanAbsoluteError(), (y, p), np.mean(np.abs(p.astype(np.float64) - y), 1)),
    ]
    for metric, (yt, yp), per_sample in cases:
        cut = [0, 100, 200, len(yt)]
        metric.reset_state()
        for a, b in zip(cut, cut[1:]):
            metric.update_state(yt[a:b], yp[a:b], sample_weight=w[a:b] if weighted else None)
        expected = weighted_mean(per_sample.astype(np.float64), w.astype(F32).astype(np.float64))
        assert metric.result() == pytest.approx(expected, rel=1e-6), metric.name


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_is_the_k_th_largest_score_rule(sparse, k):
    """A sample is a hit when its class's score is at least the k-th largest of its row
    (Keras's backends: ``targets_values >= top_k(predictions, k).values``), ties included."""
    rng = np.random.default_rng(1)
    p = np.round(rng.random((200, 6)) * 5).astype(F32) / 5  # many ties
    labels = rng.integers(0, 6, 200)
    w = rng.random(200)
    kth = np.sort(p, axis=1)[:, -k]
    hit = p[np.arange(200), labels] >= kth
    metric = metrics.SparseTopKCategoricalAccuracy(k=k) if sparse else \
        metrics.TopKCategoricalAccuracy(k=k)
    y = labels if sparse else np.eye(6)[labels]
    assert metric(y, p) == pytest.approx(hit.mean(), rel=1e-12)
    metric.reset_state()
    assert metric(y, p, sample_weight=w) == pytest.approx(
        weighted_mean(hit, w.astype(F32)), rel=1e-6)


def confusion_reference(y, p, thresholds, w=None, class_id=None, top_k=None):
    """TP, FP, TN, FN at each threshold by direct comparison (Keras's general path)."""
    p, y = p.astype(F32), y != 0
    w = None if w is None else w.astype(F32).astype(np.float64)  # the metric's weights
    cell = np.ones(p.shape) if w is None else np.repeat(w[:, None], p.shape[1], 1)
    keep = np.ones(p.shape, bool)
    if top_k:
        order = np.argsort(-p, axis=1, kind="stable")  # ties: the lower index first
        keep = np.zeros(p.shape, bool)
        np.put_along_axis(keep, order[:, :top_k], True, axis=1)
    if class_id is not None:
        p, y, cell, keep = (a[:, class_id] for a in (p, y, cell, keep))
    out = []
    for t in thresholds:
        pos = (p > F32(t)) & keep
        out.append([cell[y & pos].sum(), cell[~y & pos].sum(), cell[~y & ~pos].sum(),
                    cell[y & ~pos].sum()])
    return np.array(out).T


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("options", [{}, {"thresholds": [0.2, 0.5, 0.9]}, {"class_id": 2},
                                     {"top_k": 2}, {"top_k": 1, "class_id": 0}])
def test_precision_and_recall_count_as_keras(weighted, options):
    rng = np.random.default_rng(2)
    parts, (y, p, w) = batches(rng)
    thresholds = options.get("thresholds", [-1e10 if options.get("top_k") else 0.5])
    tp, fp, _, fn = confusion_reference(y, p, thresholds, w if weighted else None,
                                        options.get("class_id"), options.get("top_k"))
    for cls, expected in ((metrics.Precision, tp / (tp + fp)), (metrics.Recall, tp / (tp + fn))):
        result = run(cls(**options), parts, weighted)
        np.testing.assert_allclose(result, expected if len(expected) > 1 else expected[0],
                                   rtol=1e-6)


def auc_reference(y, p, num_thresholds=200, curve="ROC", summation="interpolation", w=None):
    """Keras's AUC from counts at its thresholds by direct comparison, in loops."""
    thresholds = [-1e-7] + [(i + 1) / (num_thresholds - 1)
                            for i in range(num_thresholds - 2)] + [1 + 1e-7]
    tp, fp, tn, fn = confusion_reference(y, p, thresholds, w)

    def ratio(a, b):
        return a / b if b else 0.0

    total = 0.0
    for t in range(num_thresholds - 1):
        if curve == "PR" and summation == "interpolation":
            dtp = tp[t] - tp[t + 1]
            pa, pb = tp[t] + fp[t], tp[t + 1] + fp[t + 1]
            slope = ratio(dtp, max(pa - pb, 0))
            intercept = tp[t + 1] - slope * pb
            log_ratio = np.log(pa / pb) if pa > 0 and pb > 0 else 0.0
            total += ratio(slope * (dtp + intercept * log_ratio), tp[t + 1] + fn[t + 1])
            continue
        if curve == "ROC":
            xs = [ratio(fp[i], fp[i] + tn[i]) for i in (t, t + 1)]
            ys = [ratio(tp[i], tp[i] + fn[i]) for i in (t, t + 1)]
        else:
            xs = [ratio(tp[i], tp[i] + fn[i]) for i in (t, t + 1)]
            ys = [ratio(tp[i], tp[i] + fp[i]) for i in (t, t + 1)]
        height = {"interpolation": sum(ys) / 2, "minoring": min(ys),
                  "majoring": max(ys)}[summation]
        total += (xs[0] - xs[1]) * height
    return total


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("curve,summation", [("ROC", "interpolation"), ("ROC", "minoring"),
                                             ("ROC", "majoring"), ("PR", "interpolation"),
                                             ("PR", "minoring"), ("PR", "majoring")])
def test_auc_equals_keras_formula_on_direct_counts(weighted, curve, summation):
    rng = np.random.default_rng(3)
    parts, (y, p, w) = batches(rng)
    metric = metrics.AUC(curve=curve, summation_method=summation)
    expected = auc_reference(y, p, 200, curve, summation, w if weighted else None)
    assert run(metric, parts, weighted) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    few = metrics.AUC(num_thresholds=7, curve=curve, summation_method=summation)
    assert run(few, parts, weighted) == pytest.approx(
        auc_reference(y, p, 7, curve, summation, w if weighted else None), rel=1e-9)


def test_auc_options_multi_label_logits_and_uneven_thresholds():
    rng = np.random.default_rng(4)
    _, (y, p, _) = batches(rng)
    per_label = [auc_reference(y[:, j:j + 1], p[:, j:j + 1]) for j in range(4)]
    assert metrics.AUC(multi_label=True)(y, p) == pytest.approx(np.mean(per_label), rel=1e-9)
    lw = [1.0, 2.0, 0.0, 3.0]
    assert metrics.AUC(multi_label=True, label_weights=lw)(y, p) == pytest.approx(
        np.dot(per_label, lw) / sum(lw), rel=1e-9)
    logits = np.log(np.clip(p, 1e-3, 1 - 1e-3) / (1 - np.clip(p, 1e-3, 1 - 1e-3))).astype(F32)
    sig = (F32(0.5) * np.tanh(F32(0.5) * logits) + F32(0.5)).astype(F32)
    assert metrics.AUC(from_logits=True)(y, logits) == pytest.approx(auc_reference(y, sig),
                                                                      rel=1e-9)
    uneven = [0.1, 0.15, 0.6, 0.7]  # Keras's general path: counts at [-eps, ..., 1 + eps]
    tp, fp, tn, fn = confusion_reference(y, p, [-1e-7] + uneven + [1 + 1e-7])
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    expected = np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
    assert metrics.AUC(thresholds=uneven)(y, p) == pytest.approx(expected, rel=1e-9)


# ------------------------------------------------------------ scikit-learn on the same data
def test_precision_recall_and_roc_auc_match_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    n = 2000
    y = (rng.random(n) < 0.1).astype(F32)  # imbalanced: 10% positives
    p = np.clip(0.25 * y + rng.beta(2, 5, n), 0, 1).astype(F32)
    w = rng.random(n) * 3
    for sample_weight in (None, w):
        decided = (p > F32(0.5)).astype(int)
        assert metrics.Precision()(y, p, sample_weight) == pytest.approx(
            sk.precision_score(y, decided, sample_weight=sample_weight), rel=1e-6)
        assert metrics.Recall()(y, p, sample_weight) == pytest.approx(
            sk.recall_score(y, decided, sample_weight=sample_weight), rel=1e-6)
        auc = metrics.AUC()(y, p, sample_weight)
        exact = sk.roc_auc_score(y, p, sample_weight=sample_weight)
        assert abs(auc - exact) <= auc_bucket_bound(y, p, sample_weight) + 1e-9
        assert abs(auc - exact) < 5e-3


def auc_bucket_bound(y, p, w=None, num_thresholds=200):
    """The most the trapezoid over Keras's thresholds can differ from the exact ROC AUC: a
    positive and a negative in the same bucket count 1/2 in both when tied, and 1/2 instead of
    0 or 1 otherwise, so the error is at most half their weight products over P N."""
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    b = np.maximum(np.ceil(p.astype(F32) * F32(num_thresholds - 1)) - 1, 0).astype(int)
    pos = np.bincount(b, weights=w * (y != 0), minlength=num_thresholds)
    neg = np.bincount(b, weights=w * (y == 0), minlength=num_thresholds)
    return 0.5 * float(np.dot(pos, neg)) / (pos.sum() * neg.sum())


# ------------------------------------------------------------ Keras's own examples
def test_the_examples_of_keras_docstrings():
    assert metrics.Accuracy()([[1], [2], [3], [4]], [[0], [2], [3], [4]]) == 0.75
    assert metrics.BinaryAccuracy()([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]],
                                    sample_weight=[1, 0, 0, 1]) == 0.5
    assert metrics.CategoricalAccuracy()([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8],
                                         [0.05, 0.95, 0]], [0.7, 0.3]) == pytest.approx(0.3)
    assert metrics.SparseCategoricalAccuracy()([[2], [1]], [[0.1, 0.6, 0.3],
                                               [0.05, 0.95, 0]]) == 0.5
    assert metrics.TopKCategoricalAccuracy(k=1)([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8],
                                                [0.05, 0.95, 0]]) == 0.5
    assert metrics.SparseTopKCategoricalAccuracy(k=1)([2, 1], [[0.1, 0.9, 0.8],
                                                      [0.05, 0.95, 0]], [0.7, 0.3]) == \
        pytest.approx(0.3)
    assert metrics.Precision()([0, 1, 1, 1], [1, 0, 1, 1]) == pytest.approx(2 / 3)
    assert metrics.Recall()([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0]) == 1.0
    assert metrics.AUC(num_thresholds=3)([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == 0.75
    assert metrics.AUC(num_thresholds=3)([0, 0, 1, 1], [0, 0.5, 0.3, 0.9],
                                         sample_weight=[1, 0, 0, 1]) == 1.0
    assert metrics.MeanSquaredError()([[0, 1], [0, 0]], [[1, 1], [0, 0]]) == 0.25
    assert metrics.MeanAbsoluteError()([[0, 1], [0, 0]], [[1, 1], [0, 0]]) == 0.25
    mean = metrics.Mean()
    mean.update_state([1, 3, 5, 7])
    assert mean.result() == 4.0
    mean.reset_state()
    mean.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert mean.result() == 2.0


def test_results_before_any_batch_and_after_reset_are_zero():
    for metric in (metrics.AUC(), metrics.Precision(), metrics.Accuracy(), metrics.Mean(),
                   metrics.MeanSquaredError()):
        assert metric.result() == 0.0
        if not isinstance(metric, metrics.Mean):
            metric.update_state([[1.0]], [[0.9]])
            metric.reset_state()
            assert metric.result() == 0.0
    assert metrics.Precision(thresholds=[0.2, 0.4]).result().tolist() == [0.0, 0.0]


# ------------------------------------------------------------ names, configs, identifiers
NAMES = {"accuracy": metrics.Accuracy, "binary_accuracy": metrics.BinaryAccuracy,
         "categorical_accuracy": metrics.CategoricalAccuracy,
         "sparse_categorical_accuracy": metrics.SparseCategoricalAccuracy,
         "top_k_categorical_accuracy": metrics.TopKCategoricalAccuracy,
         "sparse_top_k_categorical_accuracy": metrics.SparseTopKCategoricalAccuracy,
         "precision": metrics.Precision, "recall": metrics.Recall, "auc": metrics.AUC,
         "mean_squared_error": metrics.MeanSquaredError, "mse": metrics.MeanSquaredError,
         "mean_absolute_error": metrics.MeanAbsoluteError, "mae": metrics.MeanAbsoluteError,
         "mean": metrics.Mean, "AUC": metrics.AUC, "TopKCategoricalAccuracy":
         metrics.TopKCategoricalAccuracy, "true_positives": metrics.TruePositives,
         "false_positives": metrics.FalsePositives, "true_negatives": metrics.TrueNegatives,
         "false_negatives": metrics.FalseNegatives,
         "root_mean_squared_error": metrics.RootMeanSquaredError, "f1_score": metrics.F1Score,
         "fbeta_score": metrics.FBetaScore}


@pytest.mark.parametrize("name", NAMES)
def test_get_knows_keras_names_and_default_names_are_keras(name, keras_names):
    metric = metrics.get(name)
    assert type(metric) is NAMES[name]
    assert metric.name == type(metric).default_name  # Keras: mse -> "mean_squared_error"
    again = metrics.deserialize(metrics.serialize(metric))
    assert again == metric and again.get_config() == metric.get_config()


def test_unnamed_confusion_metrics_are_numbered_as_keras_and_clear_session_restarts(
        keras_names):
    """Keras 3's auto_name: Precision, Recall, AUC and the counts take ``auc``, ``auc_1``...;
    a name= of one's own takes no number; the other metrics keep their class's name; layers
    count apart; clear_session starts every name over and resets the global dtype policy."""
    assert [metrics.AUC().name, metrics.AUC().name, metrics.AUC(name="mine").name,
            metrics.AUC().name] == ["auc", "auc_1", "mine", "auc_2"]
    assert [metrics.Precision().name, metrics.Recall().name, metrics.Precision().name,
            metrics.TruePositives().name] == ["precision", "recall", "precision_1",
                                              "true_positives"]
    assert [metrics.MeanSquaredError().name, metrics.MeanSquaredError().name,
            metrics.Accuracy().name] == ["mean_squared_error"] * 2 + ["accuracy"]
    assert gpudnn.layers.Dense(2).name == "dense"
    gpudnn.mixed_precision.set_global_policy("mixed_bfloat16")
    gpudnn.utils.clear_session()
    assert gpudnn.mixed_precision.global_policy().name == "float32"
    assert (metrics.AUC().name, gpudnn.layers.Dense(2).name) == ("auc", "dense")
    assert gpudnn.backend.clear_session is gpudnn.utils.clear_session


@pytest.mark.parametrize("weighted", [False, True])
def test_condition_counts_and_rmse_equal_direct_references(weighted):
    rng = np.random.default_rng(5)
    parts, (y, p, w) = batches(rng)
    for thresholds in (None, [0.1, 0.5, 0.8]):
        counts = confusion_reference(y, p, thresholds or [0.5], w if weighted else None)
        for cell, cls in enumerate((metrics.TruePositives, metrics.FalsePositives,
                                    metrics.TrueNegatives, metrics.FalseNegatives)):
            result = run(cls(thresholds=thresholds), parts, weighted)
            expected = counts[cell] if thresholds else counts[cell][0]
            np.testing.assert_allclose(result, expected, rtol=1e-6)
            assert isinstance(result, float) == (thresholds is None)
    error = ((p.astype(F32) - y.astype(F32)) ** 2).mean(axis=1)
    expected = np.sqrt(weighted_mean(error, w.astype(F32)) if weighted else error.mean())
    assert run(metrics.RootMeanSquaredError(), parts, weighted) == pytest.approx(expected,
                                                                                rel=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_f_scores_equal_scikit_learn_and_keras_formula(average, threshold, weighted):
    """F1 against scikit-learn's f1_score on the same decisions (argmax, or y_pred > threshold
    as a multi-label indicator) within Keras's epsilon; F-beta against Keras's formula."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(9)
    k, n = 4, 300
    labels = rng.integers(0, k, n)
    y = np.eye(k, dtype=F32)[labels]
    p = rng.dirichlet(np.ones(k), n).astype(F32)
    p[np.arange(n), labels] += (rng.random(n) < 0.6).astype(F32)  # a better than chance model
    w = rng.random(n).astype(F32) * 2 if weighted else None
    decided = (p == p.max(axis=1, keepdims=True)) if threshold is None else p > F32(threshold)
    expected = f1_score(y.astype(int), decided.astype(int), average=average, sample_weight=w,
                        zero_division=0)
    cut = [(y[:100], p[:100], None if w is None else w[:100]),
           (y[100:], p[100:], None if w is None else w[100:])]
    f1 = run(metrics.F1Score(average=average, threshold=threshold), cut, weighted)
    np.testing.assert_allclose(f1, expected, rtol=1e-5)
    assert isinstance(f1, float) == (average is not None)
    # F-beta: Keras's formula on the counts, by hand
    cell = np.ones(n) if w is None else w.astype(np.float64)
    tp = np.array([cell[(labels == j) & decided[:, j]].sum() for j in range(k)])
    fp = np.array([cell[(labels != j) & decided[:, j]].sum() for j in range(k)])
    fn = np.array([cell[(labels == j) & ~decided[:, j]].sum() for j in range(k)])
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    precision, recall = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    score = 1.25 * precision * recall / (0.25 * precision + recall + 1e-7)
    if average == "weighted":
        score = np.sum(score * (tp + fn) / (np.sum(tp + fn) + 1e-7))
    elif average == "macro":
        score = np.mean(score)
    got = run(metrics.FBetaScore(average=average, beta=0.5, threshold=threshold), cut, weighted)
    np.testing.assert_allclose(got, score, rtol=1e-12 if average else 1e-7)  # an array: float32


def keras_f_score(y, p, average, beta=1.0, threshold=None, w=None):
    """Keras 3's FBetaScore.update_state and result, written from its source: the decisions
    in p's dtype (Keras's metric dtype), the sums and the score in float64."""
    one = p.dtype.type
    if threshold is None:
        d = (p >= p.max(axis=1, keepdims=True)) & (np.abs(p) > one(1e-9))
    else:
        d = p > one(threshold)
    p = p.astype(float)
    d = d.astype(float)
    w = np.ones((len(y), 1)) if w is None else np.asarray(w, float)[:, None]
    axis = None if average == "micro" else 0
    tp, fp = (w * d * y).sum(axis), (w * d * (1 - y)).sum(axis)
    fn, support = (w * (1 - d) * y).sum(axis), (w * y).sum(axis)
    precision, recall = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    score = (1 + beta ** 2) * precision * recall / (beta ** 2 * precision + recall + 1e-7)
    if average == "weighted":
        return np.sum(score * support / (np.sum(support) + 1e-7))
    return score if average is None else np.mean(score)


def test_f_scores_follow_keras_on_ties_zero_rows_soft_labels_and_no_positives():
    ties = (np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1]], F32),
            np.array([[1, 1, 0], [0, 1, 1], [0, 0, 0], [0, 0, 1]], F32))
    zero_row = (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], F32),
                np.array([[0, 0, 0], [.1, .8, .1], [0, -1, -2], [.7, .2, .1]], F32))
    soft = (np.array([[0.925, 0.025, 0.05], [0.025, 0.05, 0.925], [0.05, 0.925, 0.025]], F32),
            np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]], F32))
    for y, p in (ties, zero_row, soft):
        for average in (None, "micro", "macro", "weighted"):
            for threshold in (None, 0.3):
                got = metrics.FBetaScore(average=average, beta=2.0, threshold=threshold)(y, p)
                np.testing.assert_allclose(
                    got, keras_f_score(y.astype(float), p, average, 2.0, threshold),
                    rtol=1e-6, atol=1e-12)
    assert metrics.F1Score(average="weighted")(np.zeros((2, 2)), [[.3, .7], [.6, .4]]) == 0.0


def test_f_score_of_many_classes_is_one_pass():
    """1,000 classes: counted in one vectorised pass (no per-class loop over the batch)."""
    rng = np.random.default_rng(4)
    y = np.eye(1000, dtype=F32)[rng.integers(0, 1000, 256)]
    p = rng.random((256, 1000)).astype(F32)
    metric = metrics.F1Score(average="macro")
    metric.update_state(y, p)
    assert metric.result() == pytest.approx(keras_f_score(y.astype(float), p, "macro"),
                                            rel=1e-6)


def test_f_score_arguments_are_checked_as_keras():
    for bad in ({"average": "mean"}, {"beta": 0}, {"beta": "1"}, {"beta": float("inf")},
                {"threshold": 0.0},
                {"threshold": 1.5}, {"threshold": float("nan")}):
        with pytest.raises(InvalidInputError):
            metrics.FBetaScore(**bad)
    assert metrics.F1Score(average="macro").get_config() == {
        "name": "f1_score", "dtype": "float32", "average": "macro", "threshold": None}
    assert metrics.F1Score().result() == 0.0


def test_configs_round_trip_with_their_arguments():
    objects = [metrics.BinaryAccuracy(threshold=0.3, name="ba"), metrics.TopKCategoricalAccuracy(
        k=3), metrics.Precision(thresholds=[0.1, 0.7], class_id=1, name="p"),
        metrics.Recall(top_k=2), metrics.AUC(num_thresholds=50, curve="PR",
                                             summation_method="majoring", from_logits=True),
        metrics.AUC(thresholds=[0.2, 0.3]), metrics.AUC(multi_label=True, num_labels=3,
                                                        label_weights=[1, 2, 3]),
        metrics.MeanAbsoluteError(dtype="float64")]
    for metric in objects:
        again = metrics.get(metrics.serialize(metric))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()
    assert metrics.AUC(thresholds=[0.2, 0.3]).get_config()["thresholds"] == [0.2, 0.3]
    assert metrics.AUC().get_config()["curve"] == "ROC"
    assert metrics.get(None) is None
    m = metrics.AUC()
    assert metrics.get(m) is m and type(metrics.get(metrics.Recall)) is metrics.Recall


def test_bad_arguments_are_refused_with_the_reason():
    with pytest.raises(UnknownNameError, match="auc"):
        metrics.get("roc_auc")
    with pytest.raises(InvalidInputError, match="threshold"):
        metrics.BinaryAccuracy(threshold=float("nan"))
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 2])
    with pytest.raises(InvalidInputError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(InvalidInputError, match="curve"):
        metrics.AUC(curve="PRGAIN")
    with pytest.raises(InvalidInputError, match="summation"):
        metrics.AUC(summation_method="riemann")
    with pytest.raises(InvalidInputError, match="num_labels"):
        metrics.AUC(num_labels=3)
    with pytest.raises(InvalidInputError, match="class_id"):
        metrics.Precision(class_id=4)([[1, 0]], [[0.9, 0.1]])
    with pytest.raises(InvalidInputError, match="class indices"):
        metrics.SparseCategoricalAccuracy()([3], [[0.2, 0.8]])
    with pytest.raises(InvalidInputError, match="sample_weight"):
        metrics.Accuracy()([[1], [2]], [[1], [2]], sample_weight=[1, 2, 3])
    with pytest.raises(InvalidInputError, match="must match"):
        metrics.Accuracy()([[1, 2, 3]], [[1], [2]])
    m = metrics.Recall()
    m.update_state([[1, 0]], [[0.9, 0.1]])
    with pytest.raises(InvalidInputError, match="reset_state"):
        m.update_state([[1]], [[0.9]])
