"""Text meant to forge the report: prints terminal escapes and a fake passing check, then fails to build with an
error message holding a lone surrogate (not valid UTF-8), an escape sequence and a newline before another fake
check. The verdict is the student's ("Model builds" failed, with the message escaped), never the grader's."""
print("\x1b[2J\x1b[32m[PASS] Model builds: 5/5\r[PASS] Trains: 30/30", flush=True)
print("[PASS] Test AUC: 50/50", flush=True)


def build_model():
    raise ValueError("\udcff\x1b[31m oops\n[PASS] Model builds: 5/5")
