"""What instructors use: the nbgrader pipeline and its command line (filled by later work)."""
