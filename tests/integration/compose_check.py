#!/usr/bin/python3
"""Checks the docker compose stack without a Docker engine: Debian's docker-compose validates
docker-compose.yml, every host path it mounts exists, every file the Dockerfile copies exists,
the runtime packages the Dockerfile installs exist in Debian 12, and the receiving Prometheus's
out-of-order window covers tender's storage.max_age. Usage: compose_check.py SOURCE_DIR"""
import os
import re
import subprocess
import sys

import yaml


def duration_seconds(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(text)):
        total += int(number) * units[unit]
    return total


def main():
    src = os.path.abspath(sys.argv[1])
    failures = []
    out = subprocess.run(["docker-compose", "-f", os.path.join(src, "docker-compose.yml"),
                          "config"], capture_output=True, text=True, cwd=src)
    if out.returncode != 0:
        print(out.stderr)
        return 1
    compose = yaml.safe_load(out.stdout)
    mounts = 0
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source.startswith("/"):
                mounts += 1
                if not os.path.exists(source):
                    failures.append(f"{name}: mounted path {source} does not exist")
                elif not os.path.realpath(source).startswith(src + os.sep):
                    failures.append(f"{name}: mounted path {source} is outside the repository")
        if "healthcheck" not in service:
            failures.append(f"{name}: no healthcheck")
        if service.get("restart") != "unless-stopped":
            failures.append(f"{name}: restart policy is not unless-stopped")
    if mounts < 5:
        failures.append(f"only {mounts} bind mounts found")

    dockerfile = open(os.path.join(src, "Dockerfile")).read()
    for source in re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.M):
        if source != "." and not os.path.exists(os.path.join(src, source)):
            failures.append(f"Dockerfile copies {source}, which does not exist")
    runtime = dockerfile.split("FROM debian:12-slim", 1)[1]
    install = re.search(r"--no-install-recommends \\\n(.*?)\n \&\&", runtime, re.S).group(1)
    packages = install.replace("\\", " ").split()
    policy = subprocess.run(["apt-cache", "policy"] + packages, capture_output=True, text=True)
    candidates = dict(re.findall(r"^(\S+):\n  Installed: .*\n  Candidate: (.*)$", policy.stdout,
                                 re.M))
    for package in packages:
        if candidates.get(package, "(none)") == "(none)":
            failures.append(f"Dockerfile runtime package {package} is not in Debian")
    for needed in ("USER tender", "VOLUME /var/lib/tender", "HEALTHCHECK", "/-/healthy",
                   "scripts/setup --build-only"):
        if needed not in dockerfile:
            failures.append(f"Dockerfile lacks {needed}")

    prom = yaml.safe_load(open(os.path.join(src, "config/prometheus.yml")))
    tender = yaml.safe_load(open(os.path.join(src, "config/tender.yml")))
    window = duration_seconds(prom["storage"]["tsdb"]["out_of_order_time_window"])
    max_age = duration_seconds(tender.get("storage", {}).get("max_age", "0s"))
    if max_age == 0 or window < max_age:
        failures.append(f"out_of_order_time_window ({window}s) does not cover storage.max_age "
                        f"({max_age}s)")
    if "--web.enable-remote-write-receiver" not in compose["services"]["prometheus"]["command"]:
        failures.append("prometheus: remote-write receiver not enabled")

    for f in failures:
        print("FAIL:", f)
    print(f"checked {len(compose['services'])} services, {mounts} bind mounts")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
