"""Seq2seqEvaluator: exact match and BLEU of a translation model's served decoder."""
