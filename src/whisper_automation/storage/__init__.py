"""Folders and S3 behind one interface (base, s3), and the records that are the source of truth."""
