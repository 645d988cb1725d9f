"""WordPiece text for the BERT-style encoder: what ``components/transforms/wordpiece.py``
writes and the ``bert_*`` families read.

The Transform passes the raw strings through unchanged (the tokenizer lives in
the model, keras-hub style, so every exported signature takes raw strings and
the fine-tuning stage inherits the pretraining stage's tokenizer with its
encoder). The pretraining stage's Transform also *learns* the WordPiece
vocabulary from its corpus with an analyzer and writes it as the Transform
asset :data:`VOCAB` (one token per line, :data:`RESERVED_TOKENS` first, in that
order); the trainer hands its path to a family as
``DataSpec.extras["vocab_files"][VOCAB]``.

Pretraining examples are sentence pairs :data:`TEXT_A`, :data:`TEXT_B` with
the next-sentence label :data:`NEXT_SENTENCE` (1 = B follows A in the corpus,
0 = B is a random sentence). Fine-tuning examples are one text
(:data:`TEXT`) or a pair (:data:`TEXT_A`, :data:`TEXT_B`) with a class
:data:`LABEL`.

A fine-tuning Trainer started from a pretrained encoder finds the encoder's
Keras file at ``DataSpec.extras[models.base.BASE_MODEL]``.
"""

from __future__ import annotations

TEXT = "text"
TEXT_A = "text_a"
TEXT_B = "text_b"
NEXT_SENTENCE = "next_sentence"  # pretraining label: 1 = IsNext, 0 = NotNext
LABEL = "label"                  # fine-tuning class id

VOCAB = "wordpiece"  # the Transform asset holding the learned vocabulary
PAD, CLS, SEP, UNK, MASK = "[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"
RESERVED_TOKENS = (PAD, CLS, SEP, UNK, MASK)
PAD_ID, CLS_ID, SEP_ID, UNK_ID, MASK_ID = range(len(RESERVED_TOKENS))
