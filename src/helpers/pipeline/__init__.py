"""The pipeline layer: make rules, parameter schema, staged runs, content manifests, sweep, publishing."""
