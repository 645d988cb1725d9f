"""Pusher for TF Serving that writes versions atomically and never pushes a model twice.

``components.pusher.component.ServingPusher`` is the TFX component;
``components.pusher.versions`` is plain filesystem code shared with serving.
"""
