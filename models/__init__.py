"""Plain Keras 3 model builders, one family per file, in one registry (:mod:`models.registry`).

No module here imports TFX. Importing this package imports nothing else: the
families load when the registry is first asked for one (``registry.get``,
``registry.names``), and the contracts in :mod:`models.features` stay free of Keras.
"""
