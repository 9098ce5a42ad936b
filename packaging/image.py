"""Where every grading image (Docker, Gradescope, otter) keeps what it bakes in, and the sandbox's memory limit
there: the one definition. instructor/package.py writes these into gradescope.env and otter's scripts; the
Dockerfile writes them into the image's environment file with

    python3 packaging/image.py > /etc/dermamnist.env     # and the venv first on PATH

Each line sets a variable only when the environment does not (a test or `docker run -e` overrides it). Standard
library only and loaded by path (the name `packaging` belongs to a PyPI library): the Dockerfile runs it before
anything else of the project is in the image.
"""
ROOT = "/opt/dermamnist"
VENV = f"{ROOT}/venv"
# A 768 MB box (Gradescope's default; `docker run --memory=768m`) with the CPU build of torch: the sandbox's limit,
# leaving the rest to the grader's own process (packaging/RESULTS.md).
MEMORY_LIMIT_MB = 640
ENV = {"DERMA_VENV": VENV, "DERMA_PYTHON": f"{VENV}/bin/python", "DERMA_DATA_DIR": f"{ROOT}/data",
       "TORCH_HOME": f"{ROOT}/torch", "DERMA_MEMORY_LIMIT_MB": MEMORY_LIMIT_MB}


def env_file(**settings):
    """Shell lines giving each of ENV (updated with `settings`; None: empty) as a default, then exporting them."""
    values = {**ENV, **settings}
    lines = [f': "${{{name}:={"" if value is None else value}}}"' for name, value in values.items()]
    return "\n".join([*lines, "export " + " ".join(values), ""])


if __name__ == "__main__":  # the Dockerfile's environment file: the venv's bin first on PATH, too
    print(env_file() + 'export PATH="$DERMA_VENV/bin:$PATH"')
