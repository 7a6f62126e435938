"""Network basics: machines that send heartbeats and suspect silent peers."""
