#!/usr/bin/env bash
# The main job, for a newcomer on a fresh Debian machine (as root): set the machine up,
# start a local cluster of three real nodes (systemd, dockerd, sshd, etcd, cloud-init, each
# booted from the cloud-init file berth wrote for it), provision it (installer and example
# images built and pushed, secrets uploaded over SSH, every node installed, its agent
# running the example service), show the example answering on every node, and write and
# validate the first-boot files of the example cluster in every format.
#   bash scripts/demo.sh            # again later: reuses the running cluster
#   ./bin/run.js local-cluster destroy --name demo
set -euo pipefail
cd "$(dirname "$0")/.."
berth() { ./bin/run.js "$@"; }

bash scripts/setup.sh
bash scripts/services.sh dockerd

echo "== a local cluster of three nodes"
berth local-cluster status --name demo >/dev/null 2>&1 || berth local-cluster start 3 --name demo
berth local-cluster status --name demo
echo "== etcd, as main-2 sees it"
berth local-cluster ssh main-2 --name demo -- ETCDCTL_API=3 etcdctl endpoint health --cluster

echo "== provision: images, secrets, installer and agent on every node, the example service"
berth local-cluster provision --name demo
echo "== the example service, asked from this computer"
for ip in $(berth local-cluster status --name demo --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).nodes.map(n=>n.ip).join(" ")))'); do
  printf '   http://%s:8080/  ' "$ip"
  curl -fsS --max-time 5 "http://$ip:8080/" | sed -n 's:.*<h1>\(.*\)</h1>.*:\1:p'
done
echo "== cluster status"
berth cluster status --local-cluster demo

echo "== first-boot files of the example cluster, every format, validated"
out=$(mktemp -d)
cp schema/cluster.example.yaml "$out/cluster.yaml"
ssh-keygen -q -t ed25519 -N '' -C provisioner -f "$out/provisioner"
for format in coreos ignition cloud-init; do
  berth cluster new-cloud-config -c "$out/cluster.yaml" --format "$format" --out "$out/$format" --state-dir "$out/state"
  for file in "$out/$format"/*.yaml "$out/$format"/*.ign; do
    [ -e "$file" ] || continue
    case $file in
      *.ign) ignition-validate "$file" ;;
      *) cloud-init schema --config-file "$file" >/dev/null ;;
    esac
  done
  echo "   $format: every file valid"
done
echo
echo "Done. Try: ./bin/run.js local-cluster ssh main-1 --name demo"
echo "     and: ./bin/run.js local-cluster add-machine --name demo"
