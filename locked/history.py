"""One epoch's row of the training history: its fields, named once.

engine.fit writes the rows; the report, the diagnosis and the grader's parent (which takes them from the child's
report, grader/protocol.py) read them. Standard library only, so the parent imports it without torch.
"""
from typing import NamedTuple, Optional


class HistoryRow(NamedTuple):
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: Optional[float]  # None when not finite
    val_acc: float
    lr: Optional[float]        # None when the optimizer has no "lr"
    seconds: float


HISTORY_KEYS = HistoryRow._fields
