"""Training: the TrainState a config builds, Algorithm 1 and its updates, optimisers and their
schedules, the noise prior, data parallelism and the CPU runtime settings."""
