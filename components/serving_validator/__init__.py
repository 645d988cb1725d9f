"""ServingValidator: TFX InfraValidator's check without Docker or Kubernetes.

It loads the candidate model in the serving runtime (:mod:`serving`), sends
real requests built from eval examples through REST and gRPC, compares them
with an in-process call and writes an ``InfraBlessing`` the stock Pusher's
``infra_blessing`` input accepts.
"""

from components.serving_validator.component import ServingValidator

__all__ = ["ServingValidator"]
