"""The BERT-style encoder's Transform (components/transforms/wordpiece.py).

The pretraining ``preprocessing_fn`` runs through ``tft_beam`` on a few hundred
sentence pairs of the real corpus; the learned vocabulary must be the asset
``wordpiece`` with the reserved tokens first, be what keras-hub's own learner
makes of the same text, give keras-hub's ``WordPieceTokenizer`` whole tokens
for frequent words, and not depend on the order of the data or the process.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.trainer.data import data_spec
from components.transforms import wordpiece
from datasets import corpus
from models.features import wordpiece as contract
from tests.components.test_text_transforms import analyze

STRING = tf.io.FixedLenFeature([], tf.string)
INT = tf.io.FixedLenFeature([], tf.int64)
PAIR_SPEC = {contract.TEXT_A: STRING, contract.TEXT_B: STRING, contract.NEXT_SENTENCE: INT}
CONFIG = {"learn_vocabulary": True, "vocab_size": 400, "learn_params": {"lower_thresh": 2}}
BAD_ROWS = [
    {contract.TEXT_A: b"\xff\xfe broken \xc3", contract.TEXT_B: b"", contract.NEXT_SENTENCE: 0},
    {contract.TEXT_A: "Caf\u00e9 na\u00efve".encode(), contract.TEXT_B: b"  [MASK] ", contract.NEXT_SENTENCE: 1},
]


def pair_rows() -> list[dict]:
    docs = corpus.pydoc_documents()
    pairs = corpus.next_sentence_pairs(docs, 300, seed=3)
    return [{k: (v.encode() if isinstance(v, str) else v) for k, v in p.items()} for p in pairs] + BAD_ROWS


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[dict], tft.TFTransformOutput]:
    rows = pair_rows()
    out, output = analyze(rows, PAIR_SPEC, wordpiece.preprocessing_fn, CONFIG, str(tmp_path_factory.mktemp("bert")))
    return rows, out, output


def texts(rows: list[dict]) -> list[str]:
    return [r[k].decode("utf-8", errors="replace") for r in rows for k in (contract.TEXT_A, contract.TEXT_B)]


def test_the_vocabulary_is_the_asset_wordpiece_with_reserved_tokens_first(pretraining: tuple) -> None:
    _, _, output = pretraining
    path = output.vocabulary_file_by_name(contract.VOCAB)
    assert path == os.path.join(output.transform_savedmodel_dir, "assets", contract.VOCAB)
    vocab = wordpiece.load_vocabulary(path)
    assert vocab[:len(contract.RESERVED_TOKENS)] == list(contract.RESERVED_TOKENS)
    assert vocab.index(contract.MASK) == contract.MASK_ID and vocab.index(contract.PAD) == contract.PAD_ID
    assert len(set(vocab)) == len(vocab) and 300 < len(vocab) <= CONFIG["vocab_size"]
    # Learned pieces beyond single characters: whole words and ## suffixes.
    assert {"the", "is", "object"} <= set(vocab) and any(t.startswith("##") and len(t) > 3 for t in vocab)
    # What the trainer hands to a family.
    spec = data_spec(output, contract.NEXT_SENTENCE, 2)
    assert spec.extras["vocab_files"] == {contract.VOCAB: path}
    assert spec.extras["vocab_sizes"] == {contract.VOCAB: len(vocab)}


def test_texts_pass_through_and_labels_are_int64(pretraining: tuple) -> None:
    rows, out, output = pretraining
    assert output.transformed_feature_spec() == {contract.TEXT_A: STRING, contract.TEXT_B: STRING,
                                                 contract.NEXT_SENTENCE: tf.io.FixedLenFeature([], tf.int64)}
    for raw, row in zip(rows[:-2], out[:-2]):
        assert row == raw  # unchanged
    broken, accented = out[-2:]
    assert broken[contract.TEXT_A].decode("utf-8") == "\ufffd\ufffd broken \ufffd" and broken[contract.TEXT_B] == b""
    assert accented == BAD_ROWS[1]


def test_the_vocabulary_is_keras_hubs_vocabulary_for_the_same_text(pretraining: tuple) -> None:
    import keras_hub

    rows, _, output = pretraining
    ours = wordpiece.load_vocabulary(output.vocabulary_file_by_name(contract.VOCAB))
    data = tf.data.Dataset.from_tensor_slices(texts(rows))
    # keras-hub's learner with the lower count threshold passed the way the Transform passes it.
    from unittest import mock

    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner
    learn = learner.learn
    with mock.patch.object(learner, "learn", lambda *a, **k: learn(*a, **{**k, **CONFIG["learn_params"]})):
        theirs = keras_hub.tokenizers.compute_word_piece_vocabulary(
            data, CONFIG["vocab_size"], lowercase=wordpiece.LOWERCASE, strip_accents=wordpiece.STRIP_ACCENTS,
            reserved_tokens=list(contract.RESERVED_TOKENS))
    assert ours == theirs


def test_keras_hub_tokenizer_round_trips_words_with_the_vocabulary(pretraining: tuple) -> None:
    import keras_hub

    _, _, output = pretraining
    path = output.vocabulary_file_by_name(contract.VOCAB)
    vocab = wordpiece.load_vocabulary(path)
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=path, lowercase=wordpiece.LOWERCASE,
                                                        strip_accents=wordpiece.STRIP_ACCENTS)
    for token in contract.RESERVED_TOKENS:
        assert tokenizer.token_to_id(token) == contract.RESERVED_TOKENS.index(token)
    ids = [list(map(int, row)) for row in tokenizer(tf.constant(["The object is returned.", "Zygomorphic quux!"]))]
    assert [vocab[i] for i in ids[0]] == ["the", "object", "is", "returned", "."]
    assert contract.UNK_ID not in ids[0] + ids[1]  # unseen words split into seen pieces
    assert len(ids[1]) > 3
    text = tokenizer.detokenize(tf.constant(ids[1]))
    text = text if isinstance(text, str) else text.numpy().decode()
    assert text.replace(" ", "") == "zygomorphicquux!"


def test_the_same_data_in_another_order_gives_the_same_vocabulary(pretraining: tuple, tmp_path: object) -> None:
    rows, _, output = pretraining
    shuffled = list(rows)
    random.Random(0).shuffle(shuffled)
    _, again = analyze(shuffled, PAIR_SPEC, wordpiece.preprocessing_fn, CONFIG, str(tmp_path))
    first = wordpiece.load_vocabulary(output.vocabulary_file_by_name(contract.VOCAB))
    assert wordpiece.load_vocabulary(again.vocabulary_file_by_name(contract.VOCAB)) == first
    # And in another process, whose string hashing (set order) differs.
    script = ("import collections, sys\nfrom components.transforms import wordpiece as w\n"
              "texts = sys.stdin.read().split('\\n')\n"
              "vocab = w.learn_vocabulary(collections.Counter(w.pretokenize(texts)).items(), "
              f"{CONFIG['vocab_size']}, learn_params={CONFIG['learn_params']!r})\n"
              "sys.stdout.write('\\n'.join(vocab))\n")
    result = subprocess.run([sys.executable, "-c", script], input="\n".join(texts(shuffled)), capture_output=True,
                            text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "12345"}, timeout=600)
    assert result.stdout.split("\n") == first


def test_the_served_transform_takes_raw_strings_without_the_label(pretraining: tuple) -> None:
    _, _, output = pretraining
    layer = output.transform_features_layer()
    raw = tf.constant([b"A sentence.", b"\xff", b""])
    served = layer({contract.TEXT_A: raw, contract.TEXT_B: raw[::-1]})
    assert set(served) == {contract.TEXT_A, contract.TEXT_B}
    assert served[contract.TEXT_A].numpy().tolist() == [b"A sentence.", "\ufffd".encode(), b""]
    assert served[contract.TEXT_B].numpy().tolist()[0] == b""


def test_the_fine_tuning_transform_passes_one_text_and_its_label(tmp_path: object) -> None:
    rows = [{"text": b"The film was great.", "label": 1}, {"text": b"Dull.", "label": 0}]
    spec = {"text": STRING, "label": tf.io.FixedLenFeature([], tf.int64)}
    out, output = analyze(rows, spec, wordpiece.preprocessing_fn, {}, str(tmp_path))
    assert out == rows
    assert output.transformed_feature_spec() == {"text": STRING, "label": tf.io.FixedLenFeature([], tf.int64)}
    assert not tf.io.gfile.exists(os.path.join(output.transform_savedmodel_dir, "assets", contract.VOCAB))
    assert data_spec(output, contract.LABEL, 2).extras["vocab_files"] == {}


def test_sparse_inputs_and_bad_configs() -> None:
    sparse = tf.SparseTensor([[0, 0], [2, 0]], tf.constant([b"a", b"b"]), [3, 1])
    out = wordpiece.preprocessing_fn({"text": sparse, "label": tf.constant([[1], [0], [1]])})
    assert out["text"].numpy().tolist() == [b"a", b"", b"b"] and out["label"].dtype == tf.int64
    inputs = {"text": tf.constant(["x"])}
    with pytest.raises(ValueError, match="no text feature"):
        wordpiece.preprocessing_fn({"review": tf.constant(["x"])})
    with pytest.raises(ValueError, match="no text feature"):
        wordpiece.preprocessing_fn(inputs, {"text_keys": ["text_a", "text_b"]})
    with pytest.raises(ValueError, match="vocab_size must be an integer above 5"):
        wordpiece.preprocessing_fn(inputs, {"vocab_size": 5})
    with pytest.raises(ValueError, match="unknown wordpiece transform settings"):
        wordpiece.preprocessing_fn(inputs, {"vocabulary_size": 100})
    with pytest.raises(ValueError, match="lowercase must be true or false"):
        wordpiece.preprocessing_fn(inputs, {"lowercase": "yes"})


def test_learning_from_no_words_gives_the_reserved_tokens() -> None:
    assert wordpiece.learn_vocabulary([], 100) == list(contract.RESERVED_TOKENS)
    assert np.array_equal(wordpiece.pretokenize([]), [])
