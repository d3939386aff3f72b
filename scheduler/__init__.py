"""Time-shared training scheduler: domain model, policy, backends and service."""
