"""The data plane: resolve → throttle → acquire an environment (warm, or cold from a stem) → run →
release; concurrency accounting, reservations and provisioned concurrency."""
