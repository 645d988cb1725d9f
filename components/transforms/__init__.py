"""Transform ``preprocessing_fn``s, one per kind of data, referenced by dotted path."""
