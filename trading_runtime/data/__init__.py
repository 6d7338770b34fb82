"""Part files: validation and the seeded generator."""
