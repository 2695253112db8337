"""Operations: the probes (/healthz, /readyz) and the Prometheus metrics (/metrics)."""
