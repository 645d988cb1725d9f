"""Pusher for TF Serving that writes versions atomically and never pushes a model twice.

``components.pusher.component.ServingPusher`` is the TFX component;
its executor lays versions out with :mod:`serving.versions`, the same code
the model server lists them with.
"""
