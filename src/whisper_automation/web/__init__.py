"""The status page and what it serves: search, the transcripts page, recordings by byte range."""
