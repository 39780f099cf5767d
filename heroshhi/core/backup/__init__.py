"""Backups that restore: one encrypted archive holds everything needed to bring a deployment
back, except the keys, which are kept apart (README, Backups).

``backup_create(destination=...)`` writes the archive (``manage.py backup``);
``backup_restore(archive=..., force=...)`` brings it up into the configured, empty database
(``manage.py restore``). Both return a JSON-ready summary and raise ``BackupError`` with a
message saying what to do. The format is in ``archive``, what is recorded and checked about
keys and migrations in ``manifest``, the database part per vendor in ``database``, the kept
files in ``files``.

Infrastructure: this package reads only core's own tables (the workspace keys) and the
settings, never a domain app.
"""
