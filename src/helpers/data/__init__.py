"""Data layer: sources.csv and the raw observations (validation, CLIs), events, external readers, step 01 cleaning."""
