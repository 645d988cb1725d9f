"""Beam configurations: each runner's required arguments are checked in one line, and DirectRunner's
multi-processing mode runs real work (TFDV statistics, as StatisticsGen computes them) in worker processes."""

from __future__ import annotations

import os

import pytest

from orchestration import beam

DATAFLOW = ["--runner=DataflowRunner", "--project=p", "--region=europe-west4", "--temp_location=gs://b/tmp"]


@pytest.mark.parametrize("args", [
    [],
    beam.preset("direct"),
    beam.preset("direct_mp", workers=2),
    ["--direct_running_mode", "multi_threading", "--direct_num_workers", "0"],
    DATAFLOW + ["--sdk_container_image=gcr.io/p/zoo:1"],
    DATAFLOW + ["--setup_file=./setup.py"],
    beam.preset("dataflow", project="p", region="r", temp_location="gs://b/t", image="gcr.io/p/zoo:1"),
    beam.preset("flink", job_endpoint="flink-jobserver:8099", image="gcr.io/p/zoo:1"),
    beam.preset("spark", job_endpoint="spark-jobserver:8099"),
    ["--runner=FlinkRunner", "--flink_master=flink:8081", "--environment_type=LOOPBACK"],
])
def test_documented_configurations_pass(args):
    assert beam.check_beam_args(args) == list(args)


@pytest.mark.parametrize("args, message", [
    (["--runner=Dataflow", "--project=p", "--region=r"], "Beam DataflowRunner needs --temp_location"),
    (DATAFLOW[:3] + ["--temp_location=/tmp"], "--temp_location must be on gs://"),
    (DATAFLOW, "workers need the project's code"),
    (["--runner=FlinkRunner"], "Beam FlinkRunner needs --flink_master"),
    (["--runner=SparkRunner", "--job_endpoint=spark"], "--job_endpoint must be host:port"),
    (["--runner=PortableRunner"], "Beam PortableRunner needs --job_endpoint"),
    (["--runner=NoSuchRunner"], "unknown Beam runner 'NoSuchRunner'"),
    (["--direct_running_mode=multi_process"], "bad --direct_running_mode 'multi_process'"),
    (["--direct_num_workers=two"], "--direct_num_workers must be a whole number"),
    (["runner=DirectRunner"], "bad Beam argument 'runner=DirectRunner'"),
])
def test_bad_configurations_are_one_line_errors(args, message):
    with pytest.raises(ValueError) as error:
        beam.check_beam_args(args)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_direct_runner_multi_processing_computes_statistics_in_worker_processes(tmp_path):
    import apache_beam as beam_sdk
    import numpy as np
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions

    args = beam.check_beam_args(beam.preset("direct_mp", workers=2))
    path = str(tmp_path / "examples.tfrecord")
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(300):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=rng.random(64).tolist())),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 10]))})).SerializeToString())
    stats = tfdv.generate_statistics_from_tfrecord(path, pipeline_options=PipelineOptions(args))
    (dataset,) = stats.datasets
    assert dataset.num_examples == 300
    label = next(f for f in dataset.features if f.path.step == ["label"])
    assert label.num_stats.common_stats.num_non_missing == 300 and label.num_stats.max == 9

    # The work ran outside this process: in the runner's worker processes (/proc/self names the reader).
    pids_file = str(tmp_path / "pids")
    with beam_sdk.Pipeline(options=PipelineOptions(args)) as pipeline:
        _ = (pipeline | beam_sdk.Create(["/proc/self"] * 40) | beam_sdk.Map(os.readlink)
             | beam_sdk.Distinct() | beam_sdk.io.WriteToText(pids_file))
    pids = {int(line) for name in os.listdir(tmp_path) if name.startswith("pids")
            for line in open(tmp_path / name) if line.strip()}
    assert pids and os.getpid() not in pids
