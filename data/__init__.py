"""Where inputs come from: source definitions, readers and the synthetic demo area."""
