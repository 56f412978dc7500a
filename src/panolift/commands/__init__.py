"""The CLI layer: one module per subcommand. Only these modules print or draw progress bars."""
