"""One module per subcommand of mks-db."""
