"""tfx-model-zoo: TFX pipelines that train Keras model families and push them to TF Serving."""

from setuptools import find_packages, setup

# The stack that installs on this machine kind (Python 3.10, glibc 2.36); the
# full resolved set lives in constraints.txt (`uv pip install -c constraints.txt`).
INSTALL_REQUIRES = [
    "tfx==1.16.0",
    "tensorflow==2.16.2",
    "keras==3.12.0",
    # Beam runs TFX's components; TFX itself requires the [gcp] extra, nothing here imports it.
    # (tf-keras is not pinned here: nothing imports it; tensorflow-transform requires it.)
    "apache-beam==2.59.0",
    "tensorflow-datasets==4.9.10",
    "tensorflow-model-analysis==0.47.1",
    "tensorflow-transform==1.16.0",
    "tensorflow-serving-api==2.16.1",
    # Not imported yet by model code (serving loads TF Text's ops where present): the
    # upcoming BERT family uses both.
    "tensorflow-text==2.16.1",
    "keras-hub==0.25.1",
    "numpy==1.26.4",
    "scikit-learn",
    "matplotlib",
    # Real series that ship with it (sunspot numbers) for the forecasting pipeline.
    "statsmodels",
    # Cron expressions of `zoo schedule`.
    "croniter",
    # KubeflowV2DagRunner needs it to compile a pipeline spec (`zoo compile --target kubeflow`).
    "kfp-pipeline-spec==0.2.2",
    "grpcio",
    # grpc.health.v1 for `zoo serve --enable_grpc_healthcheck_service` (the last release on protobuf 3.20).
    "grpcio-health-checking==1.48.2",
    # TFX installs module files with `python -m pip`; uv venvs have no pip.
    "pip",
]

setup(
    name="tfx-model-zoo",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["zoo", "zoo.*", "datasets", "datasets.*", "pipelines", "pipelines.*", "components",
                                    "components.*", "models", "models.*", "serving", "serving.*", "orchestration",
                                    "orchestration.*"]),
    include_package_data=True,
    package_data={"serving": ["deploy/*"], "orchestration": ["deploy/*"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "gpu": ["tensorflow[and-cuda]==2.16.2"],
        "dev": ["pytest", "pytest-timeout", "ruff"],
    },
    entry_points={"console_scripts": ["zoo=zoo.cli:main"]},
)
