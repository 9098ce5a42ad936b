"""The validation/test transform. Fixed: pixels become a float tensor in [0, 1], nothing else.

Students choose only the *training* transform. If it changes what the model sees (a Normalize, a Resize), the
model meets different inputs at validation time: that is the lesson of experiment 14.
"""
from torchvision import transforms

VAL_TRANSFORM = transforms.ToTensor()
