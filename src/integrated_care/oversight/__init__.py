"""System oversight: constitutional standards, statistical process control, the triple aim."""
