"""build_model() raises the harness's own exception type, with the check name of the output-shape check: the
model never built, so "Model builds" must not be credited."""
from locked.submission import SubmissionError


def build_model():
    raise SubmissionError("output", "raises_harness_error: no model here")
