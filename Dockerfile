# CPU-only DermaMNIST grader: the isolated grader with the pinned CPU build of torch, DermaMNIST and the ResNet18
# ImageNet weights baked in. Walkthrough: packaging/README.md ("Docker").
#
#   docker build -t dermamnist-grader .
#   docker run --rm --cpus=0.5 --memory=768m --network none \
#       -v "$PWD/submission":/submission:ro -v "$PWD/results":/results dermamnist-grader
#
# /submission: the student's upload (the two files, a student/ folder, or a zip of it). /results: results.json
# (Gradescope's format), grading_record.json and report.txt. The container runs as root so that the grader can
# drop student code to the unprivileged user `nobody` and keep the test labels out of its reach.
#
# Thin on purpose: every RUN is a script CI also runs (instructor_tests/test_package.py checks that).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DERMAMNIST_ROOT=/opt/dermamnist/data \
    TORCH_HOME=/opt/dermamnist/torch \
    DERMA_MEMORY_LIMIT_MB=640

WORKDIR /opt/dermamnist/app

# 1. The pinned CPU build of torch/torchvision, then every other pin (verified after install).
COPY requirements.txt ./
COPY packaging/install_deps.sh packaging/bake_assets.sh packaging/bake_assets.py packaging/run_grader.py packaging/
RUN bash packaging/install_deps.sh requirements.txt

# 2. DermaMNIST (md5-checked) and the ResNet18 weights, baked in: grading never needs the network.
COPY locked/ locked/
RUN bash packaging/bake_assets.sh

# 3. The grader last: editing it does not re-download anything.
COPY grader/ grader/

CMD ["python", "packaging/run_grader.py", "--submission", "/submission", "--results", "/results"]
