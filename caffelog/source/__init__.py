"""Bytes in: paths, gzip, stdin, file objects, and a file that is still growing."""
