"""The cluster configurations are valid for the tools that read them."""

import importlib.util
from pathlib import Path

import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def test_slurm_job_script_carries_the_configured_resources():
    spec = importlib.util.spec_from_file_location("start_slurm", CLUSTER / "start_slurm.py")
    start_slurm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(start_slurm)
    # A scheduler on loopback only, and no job submitted.
    cluster = start_slurm.make_cluster(jobs=0, scheduler_options={"host": "127.0.0.1"})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH --cpus-per-task=2" in script
    assert "#SBATCH -t 02:00:00" in script and "#SBATCH -p normal" in script
    assert "source $HOME/stochpop/.venv/bin/activate" in script
    assert "python3 -m distributed.cli.dask_worker tcp://127.0.0.1:" in script
    assert "--nthreads 2" in script


def test_kubernetes_daskcluster_resource_is_complete():
    resource = yaml.safe_load((CLUSTER / "kubernetes/daskcluster.yaml").read_text())
    assert (resource["apiVersion"], resource["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    worker = resource["spec"]["worker"]["spec"]
    assert "--nthreads" in worker["containers"][0]["args"]
    mounts = {m["name"] for m in worker["containers"][0]["volumeMounts"]}
    assert mounts == {v["name"] for v in worker["volumes"]}
    ports = {p["port"] for p in resource["spec"]["scheduler"]["service"]["ports"]}
    assert 8786 in ports
    selector = resource["spec"]["scheduler"]["service"]["selector"]
    assert selector["dask.org/cluster-name"] == resource["metadata"]["name"]
