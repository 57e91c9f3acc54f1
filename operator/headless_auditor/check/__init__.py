"""The one-shot ``check`` command and its rendering."""
