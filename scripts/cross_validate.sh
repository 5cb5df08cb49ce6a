#!/bin/sh
# K-fold cross-validation by patient of a training recipe on the COVID-19-CT-Seg data:
# one model per fold (`lungscope train --folds K --fold I`, every patient validates in
# exactly one fold), each fold's last-epoch weights scored on its held-out patients'
# whole volumes through `lungscope segment` (scripts/pipeline_dice.py), then one
# per-patient table.
# Resumable: a fold whose run folder exists continues from its last.lsm (same
# arguments), a finished fold is only scored.
#
#   BIN=target/debug/lungscope OUT=runs/cv K=4 EPOCHS=9 scripts/cross_validate.sh \
#       [recipe arguments of `lungscope train`]
#
# FOLDS="1" (or "1 3") runs and scores only those folds, to screen a recipe on part
# of the patients before paying for all K (the table then covers only them).
#
# Without recipe arguments the default model's recipe is used: --batch-size 8 --lr 1e-3
# --loss bce-dice --size 160 --arch unet --base 12 --depth 4.
# Needs python3 with numpy and nibabel (for the scoring). Patients without a stacked
# volume (the single-slice Radiopaedia groups R04, R05) train and validate per slice
# but are not scored as volumes.
set -eu
BIN=${BIN:-target/debug/lungscope}
OUT=${OUT:-runs/cv}
K=${K:-4}
EPOCHS=${EPOCHS:-9}
PY=${PY:-python3}
HERE=$(dirname "$0")
DATA=${DATA:-$HERE/../../shared/data/covid19_ct_seg_zenodo3757476_png256}
VOLS=$HERE/../../shared/data/covid19_ct_seg_zenodo3757476_volumes
mkdir -p "$OUT"
if [ "$#" -eq 0 ]; then
    set -- --batch-size 8 --lr 1e-3 --loss bce-dice --size 160 --arch unet --base 12 --depth 4
fi
# One fold's training run (the recipe in "$@", more arguments after it).
train_fold() {
    "$BIN" train --data "$DATA" --folds "$K" --fold "$i" --epochs "$EPOCHS" --device cpu \
        --seed 42 --patience 0 --out "$run" "$@"
}
FOLDS=${FOLDS:-$(seq 1 "$K")}
for i in $(echo "$FOLDS" | tr ',' ' '); do
    case "$i" in
        '' | *[!0-9]*) echo "FOLDS: '$i' is not a fold number" >&2; exit 2 ;;
    esac
    if [ "$i" -lt 1 ] || [ "$i" -gt "$K" ]; then
        echo "FOLDS: fold $i is not in 1..$K" >&2
        exit 2
    fi
done
for i in $(echo "$FOLDS" | tr ',' ' '); do
    run="$OUT/fold$i"
    if [ -f "$run/train_state.json" ]; then
        done_epochs=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['completed_epochs'])" "$run/train_state.json")
        if [ "$done_epochs" -lt "$EPOCHS" ]; then
            echo "fold $i: resuming after epoch $done_epochs" >&2
            train_fold "$@" --resume "$run/last.lsm"
        fi
    else
        echo "fold $i: training" >&2
        train_fold "$@"
    fi
    # Patients with a stacked volume (single-slice groups have none).
    cases=$("$PY" -c "import json,os,sys; print(','.join(c for c in json.load(open(sys.argv[1]))['val_cases'] if os.path.exists(os.path.join(sys.argv[2], c + '_ct.nii.gz'))))" "$run/train_state.json" "$VOLS")
    echo "fold $i: scoring $cases" >&2
    # The last epoch's weights: choosing the best epoch by this fold's validation
    # Dice would tune on the very patients being reported.
    "$PY" "$HERE/pipeline_dice.py" --bin "$BIN" --weights "$run/last.lsm" --cases "$cases" \
        --json "$run/volumes.json" >&2
done
"$PY" - "$OUT" $(echo "$FOLDS" | tr ',' ' ') <<'EOF'
import json, os, sys
out, folds = sys.argv[1], [int(f) for f in sys.argv[2:]]
rows = []
for i in folds:
    with open(os.path.join(out, f"fold{i}", "volumes.json")) as f:
        for r in json.load(f)["cases"]:
            r["fold"] = i
            rows.append(r)
rows.sort(key=lambda r: r["case"])
print("| patient | fold | slices | lung Dice | infection Dice | infection % truth | predicted | abs. error |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    err = abs(r["infection_percent_pred"] - r["infection_percent_true"])
    print(f"| {r['case']} | {r['fold']} | {r['slices']} | {r['dice_lung']:.3f} | {r['dice_infection']:.3f} | "
          f"{r['infection_percent_true']:.1f} | {r['infection_percent_pred']:.1f} | {err:.1f} |")
big = [r for r in rows if r["slices"] >= 20]
def mean(v):
    return sum(v) / len(v) if v else float("nan")
inf = [r["dice_infection"] for r in big]
errs = [abs(r["infection_percent_pred"] - r["infection_percent_true"]) for r in big]
heavy = [abs(r["infection_percent_pred"] - r["infection_percent_true"]) for r in big
         if r["infection_percent_true"] > 20]
print()
print(f"patients with >= 20 slices: {len(big)}")
print(f"infection Dice mean {mean(inf):.3f}, lowest {min(inf):.3f}")
print(f"lung Dice mean {mean([r['dice_lung'] for r in big]):.3f}")
print(f"infection % absolute error mean {mean(errs):.2f} points; "
      "largest with > 20 % infection: "
      + (f"{max(heavy):.2f} points" if heavy else "no such patient in these folds"))
EOF
