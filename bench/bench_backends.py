"""Benchmark the emotion backends at 10k, 30k and 100k embeddings against the libraries called directly.

Data: synthetic Gaussian classes (``--classes`` classes of ``--dim``-dimensional float32
embeddings, unit within-class variance, class means drawn with standard deviation
``--spread`` so that classes overlap, as real emotion embeddings do), ``N`` training and
``N`` test vectors for each ``N`` of ``--sizes``, labels drawn uniformly. A variant's time
is training on the N training vectors plus posteriors of the N test vectors.

(a) LDA + LR: ``voxrecipes.backend.lda_lr.fit_lda_lr`` + ``predict_proba`` against
    scikit-learn called directly: ``make_pipeline(StandardScaler(),
    LinearDiscriminantAnalysis(n_components=K-1), LogisticRegression(C=1, max_iter=1000))``
    fitted on the float32 embeddings, then ``predict_proba``; with the default BLAS
    threads and with one (``threadpoolctl``). The ratio is against the faster sklearn
    variant of each round.
(b) PLDA: ``voxrecipes.backend.plda.fit_plda`` + ``posteriors`` (rank 100, 10 EM
    iterations, the recipe's defaults) against SpeechBrain called directly:
    ``PLDA(rank_f=100, nb_iter=10).plda`` on the same preprocessed vectors (centred,
    length-normalised: that preprocessing is not timed for SpeechBrain) and
    ``fast_PLDA_scoring`` of the class enrolment vectors against the test vectors in
    chunks of ``--sb_chunk`` (one call over all N builds a trial index in time quadratic
    in N). SpeechBrain runs with one BLAS thread (``threadpoolctl``), and up to
    ``--sb_default_threads_max_n`` also with the default threads: its small-matrix algebra
    is many times slower with two threads on busy cores. The ratio is against the faster
    SpeechBrain variant of each round.

Variants are timed round-robin (one run of each per round, order reversed every other
round; one untimed fit of our PLDA first, a warm-up that also makes SpeechBrain's input),
so that load from other processes hits them alike; figures are medians over ``--rounds``
rounds. Agreement is recorded too: the largest difference between our PLDA posteriors
and SpeechBrain's (and between their logs: the LLRs up to a per-row constant), and the
share of test vectors where our LDA + LR and sklearn's pick the same class.

Example::

    tools/venv/bin/python bench/bench_backends.py --out /tmp/bench_backends.json
    tools/venv/bin/python bench/bench_backends.py --sizes 2000 --rounds 1    # smoke run
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy
import sklearn
import speechbrain

# The machine description is the toxicity benchmark's (this folder is on sys.path when a script in it runs).
from machine import cpu_name, load_average
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from speechbrain.processing.PLDA_LDA import PLDA, Ndx, StatObject_SB, fast_PLDA_scoring
from threadpoolctl import threadpool_info, threadpool_limits

from voxrecipes.backend.lda_lr import fit_lda_lr, softmax
from voxrecipes.backend.plda import fit_plda


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 30000, 100000], help="training set sizes")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension")
    parser.add_argument("--classes", type=int, default=8, help="number of classes")
    parser.add_argument("--spread", type=float, default=0.06, help="standard deviation of the class means")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per size")
    parser.add_argument("--rank_f", type=int, default=100, help="PLDA rank")
    parser.add_argument("--nb_iter", type=int, default=10, help="PLDA EM iterations")
    parser.add_argument("--sb_chunk", type=int, default=1000, help="test vectors per fast_PLDA_scoring call")
    parser.add_argument("--sb_default_threads_max_n", type=int, default=10000,
                        help="run SpeechBrain with the default BLAS threads only up to this size (it took 47-61 s "
                             "at 10k on busy cores, against 2.7 s with one thread)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    return parser


def make_data(n: int, dim: int, num_classes: int, spread: float, seed: int):
    """(x_train, y_train, x_test, y_test): float32 embeddings and string labels."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, spread, size=(num_classes, dim))
    names = np.array([f"class{k}" for k in range(num_classes)])
    out = []
    for _ in range(2):
        index = rng.integers(0, num_classes, n)
        out += [(means[index] + rng.normal(size=(n, dim))).astype(np.float32), names[index]]
    return tuple(out)


def stat_object(ids, models, x) -> StatObject_SB:
    n = len(ids)
    none = np.array([None] * n)
    return StatObject_SB(modelset=np.array(list(models), dtype="|O"), segset=np.array(list(ids), dtype="|O"),
                         start=none, stop=none, stat0=np.ones((n, 1)), stat1=np.asarray(x, dtype=np.float64))


def speechbrain_plda(train, labels, test, enrol_labels, rank_f, nb_iter, chunk) -> np.ndarray:
    """SpeechBrain's PLDA trained and scored directly: (N_test, C) LLRs in input order."""
    plda = PLDA(rank_f=rank_f, nb_iter=nb_iter)
    plda.plda(stat_object([f"u{i:07d}" for i in range(len(train))], labels, train))
    classes = sorted(set(enrol_labels))
    enrol = np.stack([train[labels == c].mean(axis=0) for c in classes])
    models = np.array([f"m{k:03d}" for k in range(len(classes))], dtype="|O")
    scores = []
    for start in range(0, len(test), chunk):
        segs = np.array([f"t{i:07d}" for i in range(start, min(start + chunk, len(test)))], dtype="|O")
        out = fast_PLDA_scoring(stat_object(list(models), list(models), enrol),
                                stat_object(list(segs), list(segs), test[start:start + chunk]),
                                Ndx(models=models, testsegs=segs), plda.mean, plda.F, plda.Sigma)
        # ids are zero-padded, so sorted order is the input order: check rather than assume
        assert list(out.segset) == list(segs) and list(out.modelset) == list(models)
        scores.append(np.asarray(out.scoremat).T)
    return np.vstack(scores)


def run_size(n: int, args: argparse.Namespace) -> dict:
    x, y, x_test, y_test = make_data(n, args.dim, args.classes, args.spread, args.seed)
    test_utts = [f"t{i:07d}" for i in range(n)]
    results: dict[str, object] = {}

    def ours_lda():
        results["ours_lda"] = fit_lda_lr(x, y).predict_proba(x_test, prior="train")

    def sklearn_lda(threads: int | None):
        def variant():
            pipe = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(n_components=args.classes - 1),
                                 LogisticRegression(C=1.0, max_iter=1000))
            with threadpool_limits(limits=threads, user_api="blas"):
                results["sklearn_lda"] = pipe.fit(x, y).predict_proba(x_test)
        return variant

    def ours_plda():
        model = fit_plda(x, y, rank_f=args.rank_f, nb_iter=args.nb_iter)
        post = model.posteriors(x_test, test_utts)
        results["ours_plda"] = post.matrix

    # SpeechBrain gets the vectors our PLDA trains on (centred, length-normalised), made once, untimed
    model = fit_plda(x, y, rank_f=args.rank_f, nb_iter=args.nb_iter)
    processed = {"train": model.transform(x), "test": model.transform(x_test)}

    def speechbrain(threads: int | None):
        def variant():
            with threadpool_limits(limits=threads, user_api="blas"):
                llr = speechbrain_plda(processed["train"], y, processed["test"], y, args.rank_f, args.nb_iter,
                                       args.sb_chunk)
            results[f"speechbrain_{threads or 'default'}"] = llr
        return variant

    variants: dict[str, Callable[[], None]] = {
        "ours_lda_lr": ours_lda, "sklearn_lda_lr_default_threads": sklearn_lda(None),
        "sklearn_lda_lr_1_thread": sklearn_lda(1), "ours_plda": ours_plda,
        "speechbrain_plda_1_thread": speechbrain(1)}
    if n <= args.sb_default_threads_max_n:
        variants["speechbrain_plda_default_threads"] = speechbrain(None)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
        print(f"  N={n} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)

    med = {name: statistics.median(v) for name, v in times.items()}
    sb_best = [min(t) for t in zip(*(v for k, v in times.items() if k.startswith("speechbrain")))]
    sk_best = [min(t) for t in zip(*(v for k, v in times.items() if k.startswith("sklearn")))]
    sb_post = softmax(results["speechbrain_1"])
    return {
        "n_train": n, "n_test": n, "times_s": times, "median_s": med,
        "lda_lr_speedup_vs_sklearn_best": statistics.median(sk_best) / med["ours_lda_lr"],
        "lda_lr_speedup_per_round_median": statistics.median(
            s / o for s, o in zip(sk_best, times["ours_lda_lr"])),
        "plda_speedup_vs_speechbrain_best": statistics.median(sb_best) / med["ours_plda"],
        "plda_speedup_per_round_median": statistics.median(
            s / o for s, o in zip(sb_best, times["ours_plda"])),
        "agreement": {
            "lda_lr_same_argmax": float((results["ours_lda"].argmax(1) == results["sklearn_lda"].argmax(1)).mean()),
            "lda_lr_max_abs_prob_diff": float(np.abs(results["ours_lda"] - results["sklearn_lda"]).max()),
            "plda_max_abs_posterior_diff": float(np.abs(results["ours_plda"] - sb_post).max()),
            "plda_same_argmax": float((results["ours_plda"].argmax(1) == sb_post.argmax(1)).mean()),
            "plda_max_abs_llr_diff_vs_speechbrain": float(np.abs(
                np.log(np.clip(results["ours_plda"], 1e-300, None)) - np.log(np.clip(sb_post, 1e-300, None))).max()),
        },
        "accuracy": {"lda_lr": float((np.array(sorted(set(y)))[results["ours_lda"].argmax(1)] == y_test).mean()),
                     "plda": float((np.array(sorted(set(y)))[results["ours_plda"].argmax(1)] == y_test).mean())},
    }


def main(argv: list[str] | None = None) -> dict:
    args = get_parser().parse_args(argv)
    blas = [{k: info.get(k) for k in ("internal_api", "num_threads", "version", "architecture")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    report = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "command": " ".join([sys.executable, *sys.argv]), "args": vars(args),
              "machine": {"cpu": cpu_name(), "platform": platform.platform(), "blas": blas,
                          "load_average_1_5_15_at_start": load_average()},
              "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                           "sklearn": sklearn.__version__, "speechbrain": speechbrain.__version__},
              "sizes": []}
    wall = time.perf_counter()
    for n in args.sizes:
        report["sizes"].append(run_size(n, args))
    report["wall_s"] = time.perf_counter() - wall
    report["machine"]["load_average_1_5_15_at_end"] = load_average()
    print(f"\nload {report['machine']['load_average_1_5_15_at_start']} -> "
          f"{report['machine']['load_average_1_5_15_at_end']}; {report['wall_s']:.0f} s")
    print("| N | LDA+LR ours | sklearn (default / 1 thr) | speed-up | PLDA ours | SpeechBrain (default / 1 thr) "
          "| speed-up |")
    for s in report["sizes"]:
        m = s["median_s"]
        print(f"| {s['n_train']} | {m['ours_lda_lr']:.2f} | {m['sklearn_lda_lr_default_threads']:.2f} / "
              f"{m['sklearn_lda_lr_1_thread']:.2f} | "
              f"{s['lda_lr_speedup_vs_sklearn_best']:.2f}x | {m['ours_plda']:.2f} | "
              f"{m.get('speechbrain_plda_default_threads', float('nan')):.2f} / {m['speechbrain_plda_1_thread']:.2f} | "
              f"{s['plda_speedup_vs_speechbrain_best']:.2f}x |")
    print(json.dumps([s["agreement"] | {"accuracy": s["accuracy"]} for s in report["sizes"]], indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    main()
