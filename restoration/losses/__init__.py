"""Per-sample training losses (the balancer needs one loss value per sample, not a batch mean)."""
