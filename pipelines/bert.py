"""The BERT-style encoder: pretraining (masked LM + next sentence) and fine-tuning, as two stages.

``bert_pretraining`` learns a WordPiece vocabulary from its corpus inside the
Transform (an analyzer; the vocabulary is a Transform asset), pretrains the
``tiny`` encoder on sentence pairs of real English text that ships with the
stack (``zoo_corpus/offline``: Python's own documentation topics, docstrings
of installed libraries and the unlabelled review texts), is judged by the
MaskedLMEvaluator on held-out documents, and pushes the encoder
(``fill_mask``, ``embed``) for TF Serving.

``reviews_bert`` (one text) and ``pairs_bert`` (a sentence pair: two strings
in) declare that pretraining as their ``pretraining`` stage: their Trainer
starts from the latest pretrained encoder its Evaluator blessed, so editing
the head, the fine-tuning hyperparameters or the labelled data re-runs
fine-tuning only. TFMA blesses them like every classifier. Every exported
signature takes raw strings: the tokenizer is inside the graph.

Where TFDS can download, the same pipelines pretrain on a real corpus by
changing the dataset (``zoo_corpus/imdb_unsupervised``; see datasets/corpus.py)
and ``preset=base`` gives the notes' BERT-Base shape for a GPU.
"""

from pipelines.config import DatasetConfig, PipelineConfig, Threshold

WORDPIECE_FN = "components.transforms.wordpiece.preprocessing_fn"
SEQUENCE_LENGTH = 64  # packed WordPiece tokens, [CLS] and [SEP] included

PRETRAINING = PipelineConfig(
    name="bert_pretraining",
    description="zoo_corpus (pydoc, docstrings, review text) -> BERT tiny, masked LM + next sentence",
    dataset=DatasetConfig("zoo_corpus/offline", splits={"train": "train", "eval": "test"}),
    preprocessing_fn=WORDPIECE_FN,
    transform_config={"text_keys": ["text_a", "text_b"], "label_key": "next_sentence", "learn_vocabulary": True,
                      # Pieces seen at least twice: about 3,500 tokens on the offline corpus.
                      "vocab_size": 4000, "learn_params": {"lower_thresh": 2}},
    model="bert_pretraining",
    hparams={"preset": "tiny", "sequence_length": SEQUENCE_LENGTH, "epochs": 24},
    label_key="next_sentence",
    num_classes=2,
    # Held-out figures (500 pairs): at 8 epochs masked-token accuracy 0.148-0.157 and NSP 0.524-0.562 in two
    # runs, one below the NSP bar (then nothing is blessed and the fine-tuning stages stop); at 24 epochs (~3,000
    # steps) 0.202 and 0.562. NSP over-fits 4,000 pairs (20 epochs at 5e-4: train 0.72, held-out 0.55-0.58), so
    # 0.6 was never reached. The NSP bar says "learned more than chance" (0.5 +- 0.022 on 500 pairs); a larger
    # corpus would allow more.
    thresholds=(Threshold("masked_token_accuracy", lower_bound=0.08),
                Threshold("next_sentence_accuracy", lower_bound=0.54)),
    serving_model_name="bert_encoder",
)

REVIEWS = PipelineConfig(
    name="reviews_bert",
    description="zoo_reviews -> BERT tiny fine-tuned from bert_pretraining (its first stage), accuracy >= 0.8",
    dataset=DatasetConfig("zoo_reviews", splits={"train": "train", "eval": "test"}),
    preprocessing_fn=WORDPIECE_FN,
    transform_config={"text_keys": ["text"], "label_key": "label"},
    model="bert_classifier",
    hparams={"text_keys": ["text"], "sequence_length": SEQUENCE_LENGTH, "epochs": 5},
    label_key="label",
    num_classes=2,
    # Not met at these defaults (2026-12, tiny): fine-tuning stays at chance on zoo_reviews for 2,000+ steps
    # (benchmarks/bert_label_budget.py says why); kept as the bar, not lowered to what chance reaches.
    thresholds=(Threshold("sparse_categorical_accuracy", lower_bound=0.8),),
    slice_features=("label",),
    serving_model_name="reviews_bert",
    pretraining=PRETRAINING,
)

PAIRS = PipelineConfig(
    name="pairs_bert",
    description="zoo_pairs (same document or not) -> BERT tiny on sentence pairs, from bert_pretraining",
    dataset=DatasetConfig("zoo_pairs/docs", splits={"train": "train", "eval": "test"}),
    preprocessing_fn=WORDPIECE_FN,
    transform_config={"text_keys": ["text_a", "text_b"], "label_key": "label"},
    model="bert_classifier",
    hparams={"text_keys": ["text_a", "text_b"], "sequence_length": SEQUENCE_LENGTH, "epochs": 5},
    label_key="label",
    num_classes=2,
    # Not met at these defaults (2026-12-02, tiny): with bert_pretraining blessed (24 epochs: masked-token
    # accuracy 0.202, NSP 0.562) fine-tuning reached 0.538. benchmarks/bert_label_budget.py reaches 0.644 on all
    # labels with 8,000 pretraining steps on the documentation corpus alone; kept as the bar.
    thresholds=(Threshold("sparse_categorical_accuracy", lower_bound=0.6),),
    serving_model_name="pairs_bert",
    pretraining=PRETRAINING,
)
