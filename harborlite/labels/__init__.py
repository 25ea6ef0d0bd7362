"""Labels: global or per project, attached to artifacts."""
