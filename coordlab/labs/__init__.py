"""The lab runtime: labs, their commands, the engine that drives them and the
per-process fan-out of frames to viewers."""
