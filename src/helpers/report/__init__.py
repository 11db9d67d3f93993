"""Report layer (notebook 04): provenance register, tables, prose templates, HTML enhancements, figures, build metadata."""
