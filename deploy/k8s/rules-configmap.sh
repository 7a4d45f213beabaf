#!/usr/bin/env bash
# Prints the ConfigMap `crawlfleet-rules` holding every module of a rules root, flattened
# (`shop/product.lua` becomes the key `shop.product.lua`, which the worker reads as module
# `shop.product`):   deploy/k8s/rules-configmap.sh rules | kubectl apply -f -
set -euo pipefail
root=${1:-rules}
args=()
while IFS= read -r file; do
    rel=${file#"$root"/}
    args+=("--from-file=${rel//\//.}=$file")
done < <(find "$root" -name '*.lua' -not -path '*/.*' | sort)
kubectl create configmap crawlfleet-rules "${args[@]}" --dry-run=client -o yaml
