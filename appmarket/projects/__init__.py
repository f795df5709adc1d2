"""Projects: the tenants that own charts, images, members and robots."""
