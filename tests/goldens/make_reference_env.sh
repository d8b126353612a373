#!/usr/bin/env bash
# Create the reference environment: aicssegmentation 0.5.3, the published reference of the classic
# workflow, used ONLY as a test oracle (golden outputs, speed comparison), never as a dependency.
# Usage: tests/goldens/make_reference_env.sh [ENV_DIR]   (default: .reference-env)
# Pins (see shared/spec/REFERENCE.md): numcodecs<0.16 or every structure import fails;
# scikit-image 0.25.2 for goldens (0.26 changed remove_small_objects' size semantics).
set -euo pipefail
env_dir="${1:-.reference-env}"
python3 -m venv "$env_dir"
"$env_dir/bin/python" -m pip install --quiet --upgrade pip
"$env_dir/bin/python" -m pip install --quiet aicssegmentation==0.5.3 "numcodecs<0.16" "scikit-image==0.25.2"
"$env_dir/bin/python" -c "import aicssegmentation, skimage; print('reference env ready:', aicssegmentation.__file__, 'scikit-image', skimage.__version__)"
