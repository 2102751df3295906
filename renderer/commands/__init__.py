"""Every CLI command, one module per feature; each module lists its commands in COMMANDS."""

from __future__ import annotations

from . import dream, explain, gallery, site, zoo

COMMANDS = [*zoo.COMMANDS, *dream.COMMANDS, *explain.COMMANDS, *site.COMMANDS, *gallery.COMMANDS]
