"""`kbmc doctor`: every check in one table."""
