#!/usr/bin/python3
"""Writes test/data/policy-tables.json: torchvision 0.14's augmentation-policy definitions.

For each policy class and each (num_bins, image size) the tests use, every op of
`_augmentation_space(...)` in dictionary order (the order the policies index) with its magnitude
bins (float32 values as exact doubles, or one number for the ops without bins) and whether the
magnitude is signed; plus AutoAugment's three policy lists. Tessera's tables
(src/augment/policy-tables.ts) are compared against this file by test/policies.test.ts.

Run: /usr/bin/python3 tools/policy_tables.py > test/data/policy-tables.json
"""
import json

import torchvision
from torchvision.transforms import autoaugment as aa

SIZES = [(32, 32), (224, 224), (24, 40)]


def space(ops):
    rows = []
    for name, (magnitudes, signed) in ops.items():
        values = magnitudes.tolist()
        rows.append([name, values, bool(signed)])
    return rows


def main():
    spaces = []
    for policy in ["imagenet", "cifar10", "svhn"]:
        t = aa.AutoAugment(aa.AutoAugmentPolicy(policy))
        for size in SIZES:
            spaces.append({"policy": "AutoAugment", "numBins": 10, "imageSize": list(size), "ops": space(t._augmentation_space(10, size))})
        break  # the space does not depend on the policy list
    for bins in [31, 10, 5]:
        t = aa.RandAugment(num_magnitude_bins=bins)
        for size in SIZES:
            spaces.append({"policy": "RandAugment", "numBins": bins, "imageSize": list(size), "ops": space(t._augmentation_space(bins, size))})
    for bins in [31, 10]:
        t = aa.TrivialAugmentWide(num_magnitude_bins=bins)
        spaces.append({"policy": "TrivialAugmentWide", "numBins": bins, "imageSize": None, "ops": space(t._augmentation_space(bins))})
    for all_ops in [True, False]:
        t = aa.AugMix(all_ops=all_ops)
        for size in SIZES:
            spaces.append({"policy": "AugMix", "allOps": all_ops, "numBins": t._PARAMETER_MAX, "imageSize": list(size), "ops": space(t._augmentation_space(t._PARAMETER_MAX, size))})
    policies = {}
    for policy in ["imagenet", "cifar10", "svhn"]:
        t = aa.AutoAugment(aa.AutoAugmentPolicy(policy))
        policies[policy] = [[[name, p, m] for (name, p, m) in sub] for sub in t.policies]
    print(json.dumps({"torchvision": torchvision.__version__, "spaces": spaces, "autoAugmentPolicies": policies}, separators=(",", ":")))


if __name__ == "__main__":
    main()
