"""Library side of the apps: whole jobs (the demo, and later watch, paper, sweep) that the CLI verbs call."""
