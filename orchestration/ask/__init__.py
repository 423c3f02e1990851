"""The analyst assistant's I/O beyond the lakehouse: the language-model planners (``planners.py``)."""
