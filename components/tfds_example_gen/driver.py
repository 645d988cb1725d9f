"""Driver of ``TfdsExampleGen``: what data the run would read, decided before TFX's cache check.

TFX runs a component's driver before it looks up its cache (``tfx.orchestration.portable.launcher``),
and the execution properties the driver returns become part of the cache key, as stock
ExampleGen's driver does with its ``span``, ``version`` and ``input_fingerprint``. This driver
prepares or finds the TFDS dataset (the executor's rules: local builders are prepared, remote
ones must be prepared already unless downloads are allowed) and adds:

* ``input_fingerprint``: ``<dataset>:<version>:<digest of the prepared files>``
  (:func:`components.tfds_example_gen.tfds_io.data_fingerprint`);
* ``tfds_resolved_version``: the TFDS version read (the newest prepared when none is pinned).

So a new TFDS version or re-prepared / changed local data re-runs the pipeline from ExampleGen,
and unchanged data is a cache hit. Local runners (LocalDagRunner, BeamDagRunner) run it;
Kubeflow V2 runs custom drivers of file-based ExampleGens only.
"""

from __future__ import annotations

from tfx.dsl.components.base import base_driver
from tfx.orchestration.portable import data_types
from tfx.proto.orchestration import driver_output_pb2

from components.tfds_example_gen import executor, tfds_io

FINGERPRINT_KEY = "input_fingerprint"  # stock ExampleGen's name for it
RESOLVED_VERSION_KEY = "tfds_resolved_version"


def resolve(exec_properties) -> dict[str, str]:
    """The driver's execution properties for the configured dataset (prepares a local one)."""
    kwargs = executor.write_kwargs(exec_properties)
    builder = tfds_io.load_builder(kwargs["dataset"], version=kwargs["version"], data_dir=kwargs["data_dir"],
                                   builder_modules=kwargs["builder_modules"],
                                   allow_download=kwargs["allow_download"])
    return {FINGERPRINT_KEY: tfds_io.data_fingerprint(builder), RESOLVED_VERSION_KEY: str(builder.version)}


class Driver(base_driver.BaseDriver):
    """Adds the dataset's fingerprint and resolved version to the execution properties."""

    def run(self, execution_info: data_types.ExecutionInfo) -> driver_output_pb2.DriverOutput:
        output = driver_output_pb2.DriverOutput()
        for key, value in resolve(execution_info.exec_properties).items():
            output.exec_properties[key].string_value = value
        return output
