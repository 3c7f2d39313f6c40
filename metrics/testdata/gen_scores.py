"""Independent reference for package metrics: the CEN paper's evaluation formulas written with NumPy.

Run once with Debian's NumPy (/usr/bin/python3 metrics/testdata/gen_scores.py); it writes scores.json beside
this script. Each case holds ground-truth and predicted label maps and the scores NumPy computes from them:
confusion = bincount(K*gt + pred) over pixels with gt < K (rows ground truth), then pixel accuracy = trace /
sum, mean accuracy = nanmean(diag / row sums), IoU = diag / (rows + cols - diag), mIoU = nanmean(IoU), in %.
"""
import json
import os

import numpy as np


def scores(gt, pred, k):
    keep = gt < k
    conf = np.bincount(k * gt[keep].astype(np.int64) + pred[keep], minlength=k * k).reshape(k, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = np.diag(conf).astype(np.float64)
        rows, cols = conf.sum(1), conf.sum(0)
        pix = diag.sum() / conf.sum()
        acc = diag / rows
        iou = diag / (rows + cols - diag)
    nan = lambda v: None if np.isnan(v) else float(100 * v)
    return {
        "confusion": conf.reshape(-1).tolist(),
        "pixel_acc": nan(pix),
        "mean_acc": nan(np.nanmean(acc)) if np.any(~np.isnan(acc)) else None,
        "miou": nan(np.nanmean(iou)) if np.any(~np.isnan(iou)) else None,
        "per_class_iou": [nan(v) for v in iou],
        "per_class_acc": [nan(v) for v in acc],
        "ignored": int((~keep).sum()),
    }


rng = np.random.default_rng(20261201)
cases = []
# Hand-built: class 2 absent from both, class 3 predicted but absent from the ground truth, ignored pixels.
gt = np.array([0, 0, 0, 1, 1, 255, 255, 1, 0, 4], dtype=np.int64)
pred = np.array([0, 0, 3, 1, 0, 2, 1, 1, 3, 4], dtype=np.int64)
cases.append(("absent_predicted_and_ignored", 5, gt, pred))
# Every pixel ignored (255 and values >= K): all scores undefined.
cases.append(("all_ignored", 3, np.array([255, 7, 3, 255]), np.array([0, 1, 2, 0])))
# Perfect prediction of two classes out of four.
cases.append(("perfect_two_of_four", 4, np.array([1, 1, 3, 3, 3]), np.array([1, 1, 3, 3, 3])))
# Random frames with 40 classes (NYUDv2's), 10 % ignored, some classes never present.
for i in range(3):
    n = 5000
    gt = rng.integers(0, 30, n)
    gt[rng.random(n) < 0.1] = 255
    pred = np.where(rng.random(n) < 0.6, np.minimum(gt, 39), rng.integers(0, 40, n))
    cases.append(("random_%d" % i, 40, gt, pred))

out = []
for name, k, gt, pred in cases:
    s = scores(np.asarray(gt), np.asarray(pred), k)
    s.update({"name": name, "classes": k, "gt": np.asarray(gt).tolist(), "pred": np.asarray(pred).tolist()})
    out.append(s)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "scores.json"), "w") as f:
    json.dump(out, f)
    f.write("\n")
