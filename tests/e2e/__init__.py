"""End-to-end tests: the installed command in real git repositories."""
