"""CoordLab: live, deterministic labs for learning how distributed systems coordinate."""
