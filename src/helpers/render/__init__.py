"""Render layer: the executed report notebook -> offline HTML, typeset PDF (pandoc + Typst) and the Quarto edition."""
