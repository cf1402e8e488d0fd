"""Learning: metadata, policies, multi-task training, evaluation, checkpoints."""
