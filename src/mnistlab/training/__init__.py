"""Model + data -> a run folder: the typed config, the trainer and its pieces (augmentation, the step's
objective and replicas, optimizer and schedule, EMA, checkpoints, stops), evaluation, the multi-seed repeat,
and the run directory's files."""
