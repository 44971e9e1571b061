"""Rich renderers for what people read in the terminal: critiques, rounds, comparisons, diffs."""
