#!/usr/bin/env bash
# Re-creates the worked examples in this folder: a stratified search, its confirmation and the
# report, on scikit-learn's digits (ships with the package: nothing is downloaded).
#   bash docs/examples/run_examples.sh            # both (times in README.md; take them on a quiet machine)
#   bash docs/examples/run_examples.sh selu_digits
# Each example's console.txt ends with the time from the first command to the verdict.
set -euo pipefail
cd "$(dirname "$0")/../.."
STORAGE=${STORAGE:-/tmp/actsweep-examples}

example() {  # name, then the sweep command's arguments
    local name=$1 out=docs/examples/$1
    shift
    rm -rf "$STORAGE/$name" "$STORAGE/$name-confirm" "$out/plots"
    mkdir -p "$out" "$STORAGE"
    local started=$SECONDS
    python "$@" --storage-path "$STORAGE" --name "$name" --verbose 0 > "$STORAGE/$name.log"
    local verdict=$((SECONDS - started))
    # What the runner printed from the confirmation on: the configurations chosen, the looks, the verdict.
    sed -n '/confirming/,$p' "$STORAGE/$name.log" | grep -v -e '^View detailed' -e '^To visualize' -e '^[╭│├╰]' \
        | sed "s#$STORAGE#\$STORAGE#g" > "$out/console.txt"
    python -m analysis.report "$STORAGE/$name-confirm" --plots "$out/plots" --out "$out/report.md"
    python -m analysis.report "$STORAGE/$name" --out "$out/search_report.md"
    printf 'time from the first command to the verdict: %d min %02d s (with both reports: %d min %02d s)\n' \
        $((verdict / 60)) $((verdict % 60)) $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) \
        | tee -a "$out/console.txt"
}


if [ $# -eq 0 ] || [[ " $* " == *" antirectifier_digits "* ]]; then
    # The Keras example's claim: 256 antirectifier units match 512 ReLU units at half the parameters,
    # tested as equivalence / non-inferiority within one point of test accuracy (the sweep's margin).
    example antirectifier_digits sweeps/antirectifier_mnist.py --dataset digits --max-epochs 30 \
        --set 'lr=[0.0003,0.001,0.003]' --stratify activation,units --confirm 1 --confirm-repeats 10 \
        --margin 0.01
fi
if [ $# -eq 0 ] || [[ " $* " == *" selu_digits "* ]]; then
    # The deep-MLP claim: SELU trains a 50-layer net that ReLU without BatchNorm cannot.
    # The learning rate joins the initialiser as a nuisance: at RMSprop's default (1e-3) no 50-layer
    # net without BatchNorm learns on digits in 20 epochs (all at chance in a first run).
    example selu_digits sweeps/selu_mnist.py --dataset digits --max-epochs 20 --set batch_size=32 \
        --set batch_norm=false --set 'lr=[0.0001,0.0003,0.001]' --grace-period 10 --reduction-factor 2 \
        --confirm 2 --confirm-repeats 5 --confirm-batch 2 --margin 0.01
fi
