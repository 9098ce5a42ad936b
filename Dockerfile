# CPU-only DermaMNIST grader: the isolated grader with the pinned CPU build of torch, DermaMNIST and the ResNet18
# ImageNet weights baked in. Walkthrough: packaging/README.md ("Docker"); `bash packaging/check_docker.sh` builds
# this file and grades four submissions with it, as CI does.
#
#   docker build -t dermamnist-grader .
#   docker run --rm --cpus=0.5 --memory=768m --network none \
#       -v "$PWD/submission":/submission:ro -v "$PWD/results":/results dermamnist-grader
#
# /submission: the student's upload (the two files, a student/ folder, or a zip of it). /results: results.json
# (Gradescope's format), grading_record.json and report.txt, handed to the owner of the mounted /results folder
# when grading ends. The container runs as root so that the grader can run student code under a uid of its own and
# keep the test labels out of its reach. bubblewrap's filesystem view needs `--cap-add SYS_ADMIN --security-opt
# seccomp=unconfined --security-opt apparmor=unconfined`; without them the grader falls back to namespaces, and each
# report card's "Sandbox:" line says which protections applied.
#
# Layers, slowest first: the torch install, then the data and weights bake, then the grader. Editing grader/,
# locked/ or packaging/run_grader.py re-runs only the last, cheap layer. Every RUN is a script CI runs.
#
# Build arguments (the defaults build the real image; check_docker.sh overrides them to build offline-ish):
#   BASE_IMAGE      python:3.11-slim-bookworm pinned by digest. To move it: `docker pull python:3.11-slim-bookworm`
#                   then `docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim-bookworm` (or
#                   `docker buildx imagetools inspect python:3.11-slim-bookworm`), paste the digest here and rebuild.
#                   Any Debian-like image with python3 (3.11) and its venv module works.
#   TORCH_INDEX_URL where the +cpu builds of torch/torchvision come from (PyTorch's CPU index).
#   TORCH_STANDIN   e.g. "torch==2.13.0+cpu torchvision==0.28.0": install these instead of requirements.txt's torch
#                   pins, from PyPI plus TORCH_FIND_LINKS (stand-in builds for testing; the image says so loudly).
#   TORCH_FIND_LINKS  a URL or folder of wheels offered to pip next to PyPI.
#   DERMA_SYNTHETIC empty (default: DermaMNIST from Zenodo, md5-checked, and the weights are baked in) or 1:
#                   grade on the project's synthetic stand-in at DERMA_SYNTHETIC_SCALE, nothing downloaded, no
#                   pretrained weights (testing only: every report then says SYNTHETIC).
#
# The image's folders and the sandbox's memory limit are packaging/image.py's: it writes them into
# /etc/dermamnist.env, which every bash of the image (each RUN below, the CMD, `docker run IMAGE bash -c ...`) reads
# through BASH_ENV, each as a default that `docker run -e` overrides.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
SHELL ["/bin/bash", "-c"]
WORKDIR /srv/dermamnist-grader
COPY packaging/image.py packaging/
RUN python3 packaging/image.py > /etc/dermamnist.env
ENV BASH_ENV=/etc/dermamnist.env

# 1. The pinned CPU build of torch/torchvision, then every other pin the grader uses (verified after install).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_STANDIN=
ARG TORCH_FIND_LINKS=
COPY requirements.txt ./
COPY packaging/install_deps.sh packaging/
RUN DERMA_GRADING_ONLY=1 bash packaging/install_deps.sh requirements.txt

# 2. bubblewrap (the sandbox's filesystem view, where the container allows it), then DermaMNIST (md5-checked) and
#    the ResNet18 weights, baked in: grading never needs the network.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
ARG DERMA_SYNTHETIC=
ARG DERMA_SYNTHETIC_SCALE=1
ENV DERMA_SYNTHETIC=${DERMA_SYNTHETIC} \
    DERMA_SYNTHETIC_SCALE=${DERMA_SYNTHETIC_SCALE}
COPY packaging/bake_assets.sh packaging/bake_assets.py packaging/
RUN bash packaging/bake_assets.sh

# 3. The grader last: editing it re-runs nothing above. The check proves the baked files are where locked/ looks.
COPY locked/ locked/
COPY grader/ grader/
COPY packaging/run_grader.py packaging/docker_grade.sh packaging/
RUN bash packaging/bake_assets.sh --check

# Labels last: a new REVISION must not invalidate the cached layers above.
ARG BASE_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="dermamnist-grader" \
      org.opencontainers.image.description="CPU-only DermaMNIST autograder: Gradescope results.json" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.opencontainers.image.documentation="packaging/README.md"

CMD ["bash", "packaging/docker_grade.sh"]
