"""YOUR TRAINING CONFIGURATION. You may change every value and function below; keep the names.

The locked training loop (locked/engine.py) reads these and does, in order:
    model     = build_model()                       # from model.py
    optimizer = make_optimizer(model)
    criterion = make_loss(class_counts)             # class_counts: tensor of the 7 training-set class counts
    scheduler = make_scheduler(optimizer)           # or None
    for epoch in range(EPOCHS):
        for images, labels in batches of BATCH_SIZE, each image passed through train_transform:
            loss = criterion(model(images), labels); loss.backward(); optimizer.step()
            scheduler.step()                        # only with SCHEDULER_STEP = "batch"
        scheduler.step()                            # once per epoch, if you made one (the default)
        scheduler.step(val_loss)                    # instead, with SCHEDULER_STEP = "val_loss"
Validation and test images always go through transforms.ToTensor() only (pixels in [0, 1]); you cannot change that.
"""
import torch
import torch.nn as nn
from torchvision import transforms

# How long to train. More epochs help until the model starts to memorise the training set.
EPOCHS = 5

# Images per gradient step. Bigger batches: fewer, smoother steps per epoch (and often a need for a larger LR).
BATCH_SIZE = 32

# Applied to every TRAINING image (a PIL image, 28x28 RGB) each time it is used, so random augmentations
# differ every epoch. It must end in a float tensor of shape 3x28x28 with pixels in [0, 1], like validation.
# Try: transforms.RandomHorizontalFlip(), transforms.RandomRotation(15),
# transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05).
# Trap: a transforms.Normalize here (and not at validation) shows the model different data at test time.
train_transform = transforms.Compose([
    transforms.ToTensor(),
])


def make_optimizer(model):
    """Which optimizer updates the weights, and how fast. Try Adam(lr=1e-3), or SGD(lr=0.01, momentum=0.9):
    momentum adds up about the last 10 steps, so it needs a 10x smaller lr (SGD(lr=0.1, momentum=0.9) kills this model).
    To freeze layers, set requires_grad=False in model.py; optimizers skip parameters that get no gradient."""
    return torch.optim.SGD(model.parameters(), lr=0.1)


def make_loss(class_counts):
    """The loss to minimise. class_counts holds how many training images each class has (nv: about 67%).
    Rare classes such as melanoma can be weighted up, e.g. weight = class_counts.sum() / (7 * class_counts);
    nn.CrossEntropyLoss(label_smoothing=0.1) softens over-confident predictions."""
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    """How the learning rate changes during training. None keeps it constant.
    Try torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS): stepped once per epoch, the default.
    Other schedulers are stepped differently; say which with a line SCHEDULER_STEP = ... above this function:
      "epoch"     scheduler.step() after every epoch (the default; CosineAnnealingLR, StepLR)
      "batch"     scheduler.step() after every optimizer step (OneCycleLR, a warm-up). Take a second argument,
                  def make_scheduler(optimizer, steps_per_epoch), to know how many steps an epoch has, e.g.
                  OneCycleLR(optimizer, max_lr=0.1, epochs=EPOCHS, steps_per_epoch=steps_per_epoch,
                             cycle_momentum=False)
                  (by default OneCycleLR also gives SGD momentum 0.85-0.95, steps 7-20x larger, and max_lr=0.1 then
                  kills this model: keep cycle_momentum=False, or keep the momentum with max_lr=0.01), or a warm-up,
                  LinearLR(optimizer, start_factor=0.1, total_iters=steps_per_epoch) (lr rises over the first epoch)
      "val_loss"  scheduler.step(val_loss) after every epoch's validation (ReduceLROnPlateau(optimizer))
    A scheduler stepped the wrong way is refused before training, with the setting it needs."""
    return None
