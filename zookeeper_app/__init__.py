"""The ZooKeeper labs (model, scenarios, frames and page arrive with their issues)."""
