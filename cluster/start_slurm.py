"""Start a Dask cluster on SLURM with the settings in cluster/slurm.yaml and print its address.

    pip install dask-jobqueue
    python cluster/start_slurm.py --jobs 20          # keeps running; Ctrl-C stops the cluster
    stochpop run models/norway.toml --out out/norway --scheduler tcp://...   # in another shell

The results store (`--out`) must be on a file system the workers share (e.g. your home or scratch).
"""

import argparse
import signal
from pathlib import Path

import dask.config
import yaml

CONFIG = Path(__file__).with_name("slurm.yaml")


def make_cluster(jobs: int, **options):
    """A SLURMCluster configured from slurm.yaml (`options` override it), scaled to `jobs` jobs."""
    from dask_jobqueue import SLURMCluster

    dask.config.update(dask.config.config, yaml.safe_load(CONFIG.read_text()), priority="new")
    cluster = SLURMCluster(**options)
    cluster.scale(jobs=jobs)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs, one worker each")
    args = parser.parse_args()
    cluster = make_cluster(args.jobs)
    print(cluster.job_script())
    print(f"scheduler address: {cluster.scheduler_address}")
    signal.pause()


if __name__ == "__main__":
    main()
