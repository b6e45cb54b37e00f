"""What touches the production database: the plan, the deploy, backups, their history."""
