"""The tests, a package so their helpers import by name (`from tests.tiny import build_tiny`), as the
installed `loop` package does; nothing is put on sys.path by hand."""
