"""MaskedLMEvaluator: blesses a pretrained encoder on held-out masked-token and next-sentence accuracy."""
