"""Meta-learning: per-group initializations (FOMAML, Reptile), fast adaptation, negative-transfer guard."""
