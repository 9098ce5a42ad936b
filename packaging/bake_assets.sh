#!/usr/bin/env bash
# Bake DermaMNIST (md5-checked) and the ImageNet ResNet18 weights into fixed folders of the image, so grading never
# needs the network, then let the project's own loader find them. Fails loudly if anything is missing.
#
# Used by Gradescope's setup.sh and the Dockerfile (otter's setup.sh embeds bake_assets.py itself). CI runs it
# offline and checks that it fails loudly (instructor_tests/test_package.py).
#
#   bash packaging/bake_assets.sh [--check]
# Environment: PYTHON (default python3), DERMA_DATA_DIR and TORCH_HOME (the image's folders: gradescope.env and the
#              Dockerfile set them), DERMA_SYNTHETIC (1: bake nothing, test images only)
set -euo pipefail
PY="${PYTHON:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# An image built for testing on the synthetic stand-in (DERMA_SYNTHETIC=1) has nothing to bake: say so loudly.
case "$(echo "${DERMA_SYNTHETIC:-}" | tr '[:upper:]' '[:lower:]')" in
  1|true|yes)
    echo "bake_assets.sh: DERMA_SYNTHETIC is set: NOTHING BAKED. This image grades on the synthetic stand-in"
    echo "bake_assets.sh: only (testing); pretrained weights are unavailable in it."
    exit 0 ;;
esac

: "${DERMA_DATA_DIR:?set it to the image's data folder}" "${TORCH_HOME:?set it to the image's weights folder}"
export DERMA_DATA_DIR TORCH_HOME
"$PY" "$HERE/bake_assets.py" "$@"

# The project's own fetch (what students run) must now be a cache hit in the same TORCH_HOME.
if [ -f "$HERE/../locked/weights.py" ]; then
  (cd "$HERE/.." && "$PY" -m locked.weights)
fi
echo "bake_assets.sh: data in $DERMA_DATA_DIR, weights in $TORCH_HOME"
