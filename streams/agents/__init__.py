"""One agent per module; each ``register(wiring)`` declares its agent on the app."""
