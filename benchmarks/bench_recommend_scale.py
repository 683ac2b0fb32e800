"""Recommenders at scale: fit and top-10-for-everyone time and peak memory, per model.

Data: synthetic implicit feedback, by default 100,000 users x 20,000 items and
10,000,000 interactions (users draw mostly from one of 20 item clusters, items
have Zipf-like popularity). Each model is fitted on the user x item CSR matrix
and then asked for the top 10 unseen items of every user.

Every measurement runs in a fresh subprocess, so peak memory
(``resource.getrusage`` max RSS, the loaded data included) belongs to one model
alone. Each model is paired with a reference measured in the same run, doing the
same work without the workbench: hand-written numpy/scipy for popularity and
EASE, and ``implicit``'s own models and ``recommend`` for item-kNN (cosine,
``CosineRecommender``), ALS and BPR (same parameters and thread counts).

A model whose estimated peak memory exceeds ``--memory-gb`` is skipped, as is any
run that exceeds ``--timeout`` seconds; the table says so.

Run with ``uv run python benchmarks/bench_recommend_scale.py [--users N --items N --interactions N]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from common import peak_mib, write_section

SECTION = "## Recommenders at scale (`benchmarks/bench_recommend_scale.py`)"
K = 10
MODELS = ("popularity", "itemknn", "ease", "als", "bpr")
PARAMS = {  # the same settings on both sides
    "popularity": {},
    "itemknn": {"neighbors": 100},
    "ease": {"l2": 500.0},
    "als": {"factors": 64, "regularization": 0.01, "alpha": 1.0, "iterations": 15},
    "bpr": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
}
REFERENCE = {
    "popularity": "numpy bincount + argpartition",
    "itemknn": "implicit CosineRecommender",
    "ease": "numpy inv + dense matmul",
    "als": "implicit ALS",
    "bpr": "implicit BPR (1 thread)",
}


def make_interactions(users: int, items: int, interactions: int, seed: int = 0) -> sp.csr_array:
    """A binary user x item CSR matrix of about ``interactions`` distinct cells."""
    rng = np.random.default_rng(seed)
    clusters = 20
    popularity = 1.0 / (rng.permutation(items) + 1.0) ** 0.8
    cluster_of_item = rng.integers(0, clusters, items)
    cluster_of_user = rng.integers(0, clusters, users)
    user = rng.integers(0, users, interactions)
    in_cluster = rng.random(interactions) < 0.7
    item = np.empty(interactions, dtype=np.int64)
    global_p = popularity / popularity.sum()
    item[~in_cluster] = rng.choice(items, size=int((~in_cluster).sum()), p=global_p)
    for cluster in range(clusters):
        members = np.flatnonzero(cluster_of_item == cluster)
        at = np.flatnonzero(in_cluster & (cluster_of_user[user] == cluster))
        p = popularity[members] / popularity[members].sum()
        item[at] = members[rng.choice(members.size, size=at.size, p=p)]
    matrix = sp.csr_array(
        (np.ones(interactions), (user, item)), shape=(users, items), dtype=np.float64
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def ease_peak_bytes(items: int) -> int:
    """EASE holds about four dense items x items float64 arrays at once while fitting."""
    return 4 * items * items * 8


# -- measured in a child process ----------------------------------------------------------


def _top_k_unseen(score_rows, matrix: sp.csr_array, k: int) -> np.ndarray:
    """Top-k unseen items of every user, scoring 2**22 cells at a time (the reference side)."""
    users, items = matrix.shape
    batch = max(1, 2**22 // items)
    best = np.empty((users, k), dtype=np.int64)
    for start in range(0, users, batch):
        rows = np.arange(start, min(start + batch, users))
        scores = np.array(score_rows(rows), dtype=np.float64)
        seen = matrix[rows]
        scores[np.repeat(np.arange(rows.size), np.diff(seen.indptr)), seen.indices] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        best[rows] = np.take_along_axis(top, order, axis=1)
    return best


def _reference(name: str, matrix: sp.csr_array) -> tuple[float, float]:
    from threadpoolctl import threadpool_limits

    params = PARAMS[name]
    started = time.perf_counter()
    if name == "popularity":
        counts = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
        fitted = time.perf_counter()
        _top_k_unseen(lambda rows: np.broadcast_to(counts, (rows.size, counts.size)), matrix, K)
    elif name == "ease":
        gram = (matrix.T @ matrix).toarray()
        gram[np.diag_indices_from(gram)] += params["l2"]
        precision = np.linalg.inv(gram)
        del gram
        precision /= -np.diag(precision)
        np.fill_diagonal(precision, 0.0)
        fitted = time.perf_counter()
        _top_k_unseen(lambda rows: matrix[rows] @ precision, matrix, K)
    else:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import CosineRecommender

        user_items = sp.csr_matrix(matrix, dtype=np.float32)
        with threadpool_limits(1, "blas"):
            if name == "itemknn":
                model = CosineRecommender(K=params["neighbors"])
            elif name == "als":
                model = AlternatingLeastSquares(**params, random_state=0)
            else:
                model = BayesianPersonalizedRanking(**params, random_state=0, num_threads=1)
            model.fit(user_items, show_progress=False)
            fitted = time.perf_counter()
            model.recommend(np.arange(matrix.shape[0]), user_items, N=K)
    return fitted - started, time.perf_counter() - fitted


def _workbench(name: str, matrix: sp.csr_array) -> tuple[float, float]:
    from workbench.recommend import MODELS as WORKBENCH_MODELS

    started = time.perf_counter()
    model = WORKBENCH_MODELS[name](**PARAMS[name]).fit(matrix)
    fitted = time.perf_counter()
    model.recommend(None, k=K)
    return fitted - started, time.perf_counter() - fitted


def child(name: str, side: str, data: Path) -> None:
    matrix = sp.load_npz(data).tocsr()
    matrix = sp.csr_array(matrix)
    loaded_mib = peak_mib()
    fit, score = (_workbench if side == "workbench" else _reference)(name, matrix)
    peak = peak_mib()
    print(json.dumps({"fit": fit, "score": score, "peak_mib": peak, "data_mib": loaded_mib}))


# -- the parent ----------------------------------------------------------------------------


def measure(name: str, side: str, data: Path, timeout: float) -> dict | str:
    """One subprocess run: its figures, or why there are none."""
    command = [sys.executable, __file__, "--child", name, "--side", side, "--data", str(data)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"over {timeout:.0f}s"
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=10_000_000)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--memory-gb", type=float, default=16.0)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.side, args.data)
        return

    names = [name.strip() for name in args.models.split(",") if name.strip()]
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-recommend-scale-") as folder:
        data = Path(folder) / "interactions.npz"
        started = time.perf_counter()
        matrix = make_interactions(args.users, args.items, args.interactions)
        sp.save_npz(data, matrix)
        print(
            f"data: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, "
            f"{matrix.nnz:,} distinct interactions ({time.perf_counter() - started:.1f}s)"
        )
        del matrix
        for name in names:
            if name == "ease" and ease_peak_bytes(args.items) > args.memory_gb * 2**30:
                need = ease_peak_bytes(args.items) / 2**30
                notes.append(
                    f"ease skipped: about {need:.1f} GiB of dense items x items arrays "
                    f"(> --memory-gb {args.memory_gb:g})."
                )
                continue
            results = {
                side: measure(name, side, data, args.timeout) for side in ("workbench", "reference")
            }
            print(name, results, flush=True)
            rows.append((name, results))

    lines = [
        f"| model ({args.users:,} users, {args.items:,} items, {args.interactions:,} draws) "
        "| fit s | top-10 all users s | peak MiB | reference | ref fit s | ref top-10 s | ref peak MiB | total time ratio (wb / ref) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, results in rows:
        cells = []
        for side in ("workbench", "reference"):
            value = results[side]
            cells.append(
                [value] * 3
                if isinstance(value, str)
                else [f"{value['fit']:.2f}", f"{value['score']:.2f}", f"{value['peak_mib']:,.0f}"]
            )
        wb, ref = results["workbench"], results["reference"]
        ratio = (
            "n/a"
            if isinstance(wb, str) or isinstance(ref, str)
            else f"{(wb['fit'] + wb['score']) / (ref['fit'] + ref['score']):.2f}"
        )
        lines.append(
            f"| {name} | {' | '.join(cells[0])} | {REFERENCE[name]} | {' | '.join(cells[1])} | {ratio} |"
        )
    table = "\n".join(lines)
    verdict = (
        "Each figure is one run in a fresh process; peak memory includes the loaded matrix. "
        "Workbench models are fitted on the CSR matrix (no DataFrame conversion)."
        + ("" if not notes else " " + " ".join(notes))
    )
    print()
    print(table)
    print(verdict)
    if not args.no_write:
        write_section(SECTION, table, verdict)


if __name__ == "__main__":
    main()
