"""Security: ACL confinement, TLS, secrets and identifier containment."""
