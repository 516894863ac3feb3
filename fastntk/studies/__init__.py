"""Studies reproducing figures of the source papers (each a `fastntk <command>`)."""
