"""Training throughput (samples/s) of the sequence families on any Keras backend.

Random token ids of the pipelines' shapes; the first (compiling) batches are
excluded. Runs on CPU or GPU, with ``KERAS_BACKEND=tensorflow`` or ``jax``::

    python benchmarks/train_throughput.py
    python benchmarks/train_throughput.py --models rnn:lstm,seq2seq:bahdanau --precision mixed_float16
    KERAS_BACKEND=jax python benchmarks/train_throughput.py --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# name -> (family, hparam overrides)
CONFIGS = {
    "rnn:lstm": ("rnn", {"cell": "lstm"}),
    "rnn:gru": ("rnn", {"cell": "gru"}),
    "rnn:gru-deep-uni": ("rnn", {"cell": "gru", "bidirectional": False, "depth": 2}),
    "seq2seq:bahdanau": ("seq2seq", {"attention": "bahdanau"}),
    "seq2seq:luong": ("seq2seq", {"attention": "luong", "cell": "lstm"}),
    "seq2seq:none": ("seq2seq", {"attention": None}),
}


def make_batch(family: str, batch_size: int, length: int, vocab: int, rng: np.random.Generator) -> tuple:
    ids = rng.integers(1, vocab, (batch_size, length)).astype("int64")
    ids[:, length * 3 // 4:] = 0  # some padding, as real data has
    if family == "rnn":
        return {"text_ids": ids}, rng.integers(0, 2, batch_size)
    target = rng.integers(3, vocab, (batch_size, 12)).astype("int64")
    return ({"source_ids": ids, "decoder_input": target[:, :-1]}, target[:, 1:],
            np.ones((batch_size, 11), "float32"))


def measure(name: str, args: argparse.Namespace) -> float:
    import keras

    import models.rnn
    import models.seq2seq  # noqa: F401
    from models import registry
    from models.base import DataSpec, FeatureInfo

    family_name, overrides = CONFIGS[name]
    family = registry.get(family_name)
    keras.utils.set_random_seed(0)
    key = "text_ids" if family_name == "rnn" else "source_ids"
    sizes = {"text": args.vocab, "source": args.vocab, "target": args.vocab}
    data = DataSpec({key: FeatureInfo((args.length,), "int64")}, "label" if family_name == "rnn" else "target",
                    2 if family_name == "rnn" else None, extras={"vocab_sizes": sizes})
    hp = family.hparams({**overrides, "precision": args.precision})
    model = family.build(hp, data)
    batch = make_batch(family_name, args.batch_size, args.length, args.vocab, np.random.default_rng(0))
    for _ in range(args.warmup):
        model.train_on_batch(*batch)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(*batch)
    return args.steps * args.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(CONFIGS), help=f"comma list of {list(CONFIGS)}")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=64, help="tokens per sequence (source length)")
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", default="float32")
    args = parser.parse_args()
    import keras

    unknown = [m for m in args.models.split(",") if m not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choices: {list(CONFIGS)}")
    print(f"backend={keras.backend.backend()} batch={args.batch_size} length={args.length} "
          f"vocab={args.vocab} precision={args.precision}")
    for name in args.models.split(","):
        print(f"{name:<20} {measure(name, args):10.1f} samples/s", flush=True)


if __name__ == "__main__":
    main()
