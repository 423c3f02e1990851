"""Export the anomaly detectors to ONNX as one tree-ensemble op each.

Why not skl2onnx's IsolationForest converter for serving: it emits, per tree, a
``Gather`` of the tree's features, a one-tree ``TreeEnsembleRegressor`` that
returns the leaf id, two ``LabelEncoder`` look-ups (depth, leaf size) and the
path-length arithmetic: about ten small nodes per tree, run one after another,
each single-threaded over the batch and each allocating its own outputs.
Measured by ``benchmarks/anomaly.py`` on 1,000,000 rows, that graph (2,710
nodes for 100 trees) took 4.0 times scikit-learn's time, the one-op export
0.97 times (``docs/anomalies.md``). A path length is a constant per leaf, so the whole
forest is one ``TreeEnsembleRegressor`` with ``SUM`` aggregation whose leaves
hold ``h`` and the per-feature path credits: ONNX Runtime then walks all trees
in one parallel kernel and the score is one ``Pow`` away. ECOD's empirical
tails are step functions, i.e. one-split-per-level trees, and export the same way.

Opsets: ``{"": 17, "ai.onnx.ml": 3}``, the pair measured to work with
skl2onnx 1.20, ONNX Runtime 1.32 and protobuf < 7.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.anomalies.detectors import ECODDetector, IsolationForestDetector

#: Opsets of every exported graph.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass
class TreeEnsembleBuilder:
    """Accumulates trees for one ``ai.onnx.ml.TreeEnsembleRegressor`` node.

    A generic helper: add trees with :meth:`add_node` / :meth:`add_leaf`, then
    :meth:`node` builds the op (``aggregate_function="SUM"``).
    """

    n_targets: int
    attrs: dict[str, list] = field(
        default_factory=lambda: {
            k: []
            for k in (
                "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids",
                "target_ids", "target_weights",
            )
        }
    )

    def add_node(self, tree: int, node: int, feature: int, threshold: float, mode: str, true_id: int, false_id: int) -> None:
        a = self.attrs
        a["nodes_treeids"].append(tree)
        a["nodes_nodeids"].append(node)
        a["nodes_featureids"].append(int(feature))
        a["nodes_values"].append(float(threshold))
        a["nodes_modes"].append(mode)
        a["nodes_truenodeids"].append(true_id)
        a["nodes_falsenodeids"].append(false_id)

    def add_leaf(self, tree: int, node: int, targets: dict[int, float]) -> None:
        self.add_node(tree, node, 0, 0.0, "LEAF", 0, 0)
        a = self.attrs
        for t, w in targets.items():
            a["target_treeids"].append(tree)
            a["target_nodeids"].append(node)
            a["target_ids"].append(int(t))
            a["target_weights"].append(float(w))

    def node(self, inp: str, out: str) -> onnx.NodeProto:
        return helper.make_node(
            "TreeEnsembleRegressor", [inp], [out], domain="ai.onnx.ml", n_targets=self.n_targets,
            aggregate_function="SUM", post_transform="NONE", **self.attrs,
        )


def _f32_floor(x: np.ndarray) -> np.ndarray:
    """Largest float32 <= x, so that ``float32 v <= result`` iff ``v <= x``."""
    f = np.asarray(x, dtype=np.float64).astype(np.float32)
    over = f.astype(np.float64) > x
    f[over] = np.nextafter(f[over], np.float32(-np.inf))
    return f


def _model(nodes, inits, F: int, outputs: list[tuple[str, list]], name: str, doc: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, F])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in outputs],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in TARGET_OPSET.items()],
                          producer_name="crimefusion", doc_string=doc)
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def export_isolation_forest(det: IsolationForestDetector, *, contributions: bool = True) -> onnx.ModelProto:
    """One-op ONNX graph: input ``X`` float[N, F]; outputs ``score`` [N] and ``contributions`` [N, F].

    ``contributions=False`` drops the credit targets (score only, faster).

    The ``log1p`` pre-transform is folded into the thresholds (``log1p(x) <= t``
    iff ``x <= expm1(t)``), so the graph reads raw features.
    """
    if not hasattr(det, "forest_"):
        raise ValueError("fit the detector before exporting it")
    F = det.n_features_in_
    b = TreeEnsembleBuilder(n_targets=1 + F if contributions else 1)
    f = det.forest_
    for ti, (tree, feats, h, credit) in enumerate(zip(f.estimators_, f.estimators_features_, det.leaf_h_, det.leaf_credit_)):
        t = tree.tree_
        for node in range(t.node_count):
            left, right = int(t.children_left[node]), int(t.children_right[node])
            if left == -1:
                targets = {0: h[node]}
                if contributions:
                    targets.update({1 + j: c for j, c in enumerate(credit[node]) if c != 0.0})
                b.add_leaf(ti, node, targets)
            else:
                j = int(feats[t.feature[node]])
                thr = float(t.threshold[node])
                if det.log_mask_[j]:
                    thr = float(np.expm1(thr))
                b.add_node(ti, node, j, float(_f32_floor(np.array([thr]))[0]), "BRANCH_LEQ", left, right)
    nodes = [
        b.node("X", "ens" if contributions else "h"),
        helper.make_node("Div", ["h", "neg_denom"], ["e"]),
        helper.make_node("Pow", ["two", "e"], ["score2d"]),
        helper.make_node("Squeeze", ["score2d", "axis1"], ["score"]),
    ]
    if contributions:
        nodes.insert(1, helper.make_node("Split", ["ens", "split"], ["h", "contributions"], axis=1))
    inits = [
        *([_const("split", np.array([1, F], np.int64))] if contributions else []),
        _const("neg_denom", np.array(-det.denominator_, np.float32)),
        _const("two", np.array(2.0, np.float32)),
        _const("axis1", np.array([1], np.int64)),
    ]
    outs = [("score", [None])] + ([("contributions", [None, F])] if contributions else [])
    return _model(nodes, inits, F, outs, "isolation_forest",
                  "Isolation Forest score 2^(-E[h]/c) and per-feature path credits; features: " + ",".join(det.feature_names_))


def _step_tree(b: TreeEnsembleBuilder, tree: int, feature: int, grid: np.ndarray, values: np.ndarray, target: int, mode: str) -> None:
    """A balanced tree for the step function ``values[k]`` on the intervals cut by ``grid``."""
    next_id = [0]

    def build(lo: int, hi: int) -> int:
        me = next_id[0]
        next_id[0] += 1
        if lo == hi:
            b.add_leaf(tree, me, {target: values[lo]})
            return me
        mid = (lo + hi + 1) // 2
        # Reserve this node's slot, then fill it once the children's ids are known.
        idx = len(b.attrs["nodes_nodeids"])
        b.add_node(tree, me, feature, 0.0, mode, 0, 0)
        t_id = build(lo, mid - 1)
        f_id = build(mid, hi)
        b.attrs["nodes_values"][idx] = float(grid[mid - 1])
        b.attrs["nodes_truenodeids"][idx] = t_id
        b.attrs["nodes_falsenodeids"][idx] = f_id
        return me

    build(0, len(values) - 1)


def export_ecod(det: ECODDetector) -> onnx.ModelProto:
    """ONNX graph of ECOD: inputs ``X`` float[N, F]; outputs ``score`` [N] and ``contributions`` [N, F].

    Left tails are trees with ``BRANCH_LT`` (intervals closed on the left),
    right tails ``BRANCH_LEQ`` (closed on the right), so both match the
    empirical CDF exactly at the stored values.
    """
    if not hasattr(det, "grid_"):
        raise ValueError("fit the detector before exporting it")
    F = det.n_features_in_
    b = TreeEnsembleBuilder(n_targets=2 * F)
    for j, (g, left, right) in enumerate(det.tail_tables()):
        g32 = g.astype(np.float32)
        _step_tree(b, 2 * j, j, g32, left, j, "BRANCH_LT")
        _step_tree(b, 2 * j + 1, j, g32, right, F + j, "BRANCH_LEQ")
    auto_left = (det.skew_sign_ < 0).astype(np.float32)[None, :]
    nodes = [
        b.node("X", "ens"),
        helper.make_node("Split", ["ens", "split"], ["L", "R"], axis=1),
        helper.make_node("Mul", ["L", "mL"], ["aL"]),
        helper.make_node("Mul", ["R", "mR"], ["aR"]),
        helper.make_node("Add", ["aL", "aR"], ["A"]),
        helper.make_node("Unsqueeze", ["L", "axis1"], ["L3"]),
        helper.make_node("Unsqueeze", ["R", "axis1"], ["R3"]),
        helper.make_node("Unsqueeze", ["A", "axis1"], ["A3"]),
        helper.make_node("Concat", ["L3", "R3", "A3"], ["S"], axis=1),
        helper.make_node("ReduceSum", ["S", "axis2"], ["sums"], keepdims=0),
        helper.make_node("ReduceMax", ["sums"], ["score"], axes=[1], keepdims=0),
        helper.make_node("ArgMax", ["sums"], ["win"], axis=1, keepdims=1, select_last_index=0),
        helper.make_node("Unsqueeze", ["win", "axis2"], ["win3"]),
        helper.make_node("Expand", ["win3", "expand_shape"], ["winF"]),
        helper.make_node("GatherElements", ["S", "winF"], ["c3"], axis=1),
        helper.make_node("Squeeze", ["c3", "axis1"], ["contributions"]),
    ]
    inits = [
        _const("split", np.array([F, F], np.int64)),
        _const("mL", auto_left),
        _const("mR", 1.0 - auto_left),
        _const("axis1", np.array([1], np.int64)),
        _const("axis2", np.array([2], np.int64)),
        _const("expand_shape", np.array([1, 1, F], np.int64)),
    ]
    return _model(nodes, inits, F, [("score", [None]), ("contributions", [None, F])], "ecod",
                  "ECOD score max(O_left, O_right, O_auto) and per-feature -log tail terms; features: "
                  + ",".join(det.feature_names_))


def export(det: IsolationForestDetector | ECODDetector) -> onnx.ModelProto:
    """Export either detector (see :func:`export_isolation_forest`, :func:`export_ecod`)."""
    if isinstance(det, IsolationForestDetector):
        return export_isolation_forest(det)
    if isinstance(det, ECODDetector):
        return export_ecod(det)
    raise TypeError(f"no ONNX export for {type(det).__name__}; expected IsolationForestDetector or ECODDetector")


def export_isolation_forest_skl2onnx(det: IsolationForestDetector) -> onnx.ModelProto:
    """skl2onnx's own conversion of the wrapped forest (outputs ``label``, ``scores``), kept as the reference.

    Reads features already ``log1p``-transformed (the detector's ``_pre``);
    ``scores`` is scikit-learn's ``decision_function``.
    """
    from skl2onnx import to_onnx

    x0 = np.zeros((1, det.n_features_in_), dtype=np.float32)
    return to_onnx(det.forest_, x0, target_opset=TARGET_OPSET)
