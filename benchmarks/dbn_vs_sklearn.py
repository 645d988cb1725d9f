"""DBN on digits versus scikit-learn's BernoulliRBM + LogisticRegression.

On one seeded stratified split of sklearn's digits (pixels scaled to [0, 1])
it prints, side by side:

* sklearn: ``Pipeline(BernoulliRBM, LogisticRegression)`` held-out accuracy;
* ours: logistic regression (same settings) on the features of our first RBM
  (same hidden size, trained by CD-k with ``models.dbn``'s greedy
  pretraining), and on the top RBM's features;
* ours: the fine-tuned DBN's held-out accuracy (bar: >= 0.97).

Run: ``python benchmarks/dbn_vs_sklearn.py [--seed 0]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--logreg-c", type=float, default=100.0)
    args = parser.parse_args()

    import keras
    import tensorflow as tf
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import BernoulliRBM
    from sklearn.pipeline import Pipeline

    from components.generative_evaluator.reference import load_digits_split
    from models.base import DataSpec, FeatureInfo
    from models.dbn import Dbn

    keras.utils.set_random_seed(args.seed)
    x_train, x_test, y_train, y_test = load_digits_split(args.seed)
    flat_train, flat_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)

    def logreg() -> LogisticRegression:
        return LogisticRegression(C=args.logreg_c, max_iter=5000)

    start = time.perf_counter()
    sk = Pipeline([("rbm", BernoulliRBM(n_components=args.hidden[0], learning_rate=0.06, n_iter=args.pretrain_epochs,
                                        batch_size=32, random_state=args.seed)),
                   ("logistic", logreg())])
    sk.fit(flat_train, y_train)
    sk_accuracy, sk_seconds = sk.score(flat_test, y_test), time.perf_counter() - start

    family = Dbn()
    hp = family.hparams({"hidden_units": tuple(args.hidden), "pretrain_epochs": args.pretrain_epochs,
                         "epochs": args.epochs, "seed": args.seed})
    data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
    model = family.build(hp, data)
    train_ds = tf.data.Dataset.from_tensor_slices(({"image": x_train}, y_train)).shuffle(
        len(x_train), seed=args.seed).batch(hp.batch_size)
    test_ds = tf.data.Dataset.from_tensor_slices(({"image": x_test}, y_test)).batch(256)

    start = time.perf_counter()
    pretrain_history = family.pretrain(model, hp, train_ds)
    pretrain_seconds = time.perf_counter() - start

    def rbm_features(x: np.ndarray, layers: int) -> np.ndarray:
        return np.asarray(model.up(keras.ops.convert_to_tensor(x.reshape(len(x), -1)), layers=layers))

    first = logreg().fit(rbm_features(x_train, 1), y_train).score(rbm_features(x_test, 1), y_test)
    top = logreg().fit(rbm_features(x_train, None), y_train).score(rbm_features(x_test, None), y_test)

    start = time.perf_counter()
    family.finetune(model, hp, train_ds)
    finetune_seconds = time.perf_counter() - start
    probabilities = model.predict(test_ds, verbose=0)
    dbn_accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))

    rbm0 = pretrain_history["rbm_0_reconstruction_error"]
    print(f"digits split: {len(x_train)} train / {len(x_test)} held-out, seed {args.seed}")
    print(f"RBM 0 reconstruction MSE during CD-{hp.cd_k}: {rbm0[0]:.4f} -> {rbm0[-1]:.4f}")
    print(f"{'model':58s} {'held-out acc':>12s} {'seconds':>8s}")
    rows = [(f"sklearn BernoulliRBM({args.hidden[0]}) + LogisticRegression", sk_accuracy, f"{sk_seconds:8.1f}"),
            (f"ours: RBM 0 ({args.hidden[0]}, CD-{hp.cd_k}) features + LogisticRegression", first,
             f"{pretrain_seconds:8.1f}"),
            (f"ours: top RBM features {tuple(args.hidden)} + LogisticRegression", top, "")]
    for name, accuracy, seconds in rows:
        print(f"{name:58s} {accuracy:12.4f} {seconds}")
    print(f"{'ours: DBN fine-tuned (bar >= 0.97)':58s} {dbn_accuracy:12.4f} "
          f"{pretrain_seconds + finetune_seconds:8.1f}")


if __name__ == "__main__":
    main()
