"""The Mirai Knowledge Systems backend's database layer: models, settings and the health check."""
