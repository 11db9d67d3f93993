"""What each notebook computes: step products (tables, intervals, checks, figures) and the typed contracts between steps."""
