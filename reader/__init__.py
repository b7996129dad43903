"""The node-free reader: its build (build.py) and its browser source (src/); docs/reader.md."""
