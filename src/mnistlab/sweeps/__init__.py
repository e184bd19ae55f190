"""Search-space files shipped with mnistlab (`mnistlab sweep` uses default.toml without --space)."""
