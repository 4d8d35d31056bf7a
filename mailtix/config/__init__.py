"""Reading and checking mailtix.toml and the rule files into frozen objects."""
