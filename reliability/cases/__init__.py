"""One module per family of cases; each case returns the rows it measured."""
