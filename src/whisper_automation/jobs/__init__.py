"""Who transcribes what: the director queues what is missing, workers drive the pipeline."""
