"""Tables to things people look at: plots, files, the parse summary, live rows."""
