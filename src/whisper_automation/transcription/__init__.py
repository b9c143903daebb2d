"""One recording to its transcripts: audio -> windows -> pipeline -> an engine -> writers.

Knows nothing of queues, storage or the web page (tests/unit/test_architecture.py)."""
