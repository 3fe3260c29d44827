"""unittest suite of the Python binding: scenarios S01..S23 and the binding's own behaviour."""
