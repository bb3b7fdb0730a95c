#!/usr/bin/env bash
# A private single-node Slurm cluster on this machine, for trying scripts/slurm/ and for the
# tests and benchmarks: munged, slurmctld and slurmd on free loopback ports, everything
# (keys, state, logs, config) under DIR, nothing in /etc. Runs as root (slurmd starts jobs).
#
#   scripts/slurm/local_cluster.sh start DIR   # prints the SLURM_CONF to export; waits until the node is idle
#   scripts/slurm/local_cluster.sh stop DIR
#
# Needs Debian's slurm-wlm and munge (scripts/setup.sh installs them).
set -euo pipefail
action=${1:?usage: $0 start|stop DIR}
dir=$(realpath -m "${2:?usage: $0 start|stop DIR}")
conf=$dir/slurm.conf

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

case "$action" in
start)
  mkdir -p "$dir"/{munge,state,spool,log}
  chmod 700 "$dir/munge"
  [ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key"
  # -f: munged distrusts folders it did not set up itself (a temporary folder, say).
  munged -f --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" --log-file="$dir/log/munged.log" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/seed"
  cpus=$(nproc)
  memory_mb=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 / 2 ))
  cat > "$conf" <<CONF
ClusterName=spinescan
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeHostname=localhost CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$conf
  slurmctld -f "$conf"
  slurmd -N localhost -f "$conf"
  for _ in $(seq 150); do
    if sinfo -h -o %t 2>/dev/null | grep -q idle; then
      echo "$conf"
      exit 0
    fi
    sleep 0.2
  done
  echo "local_cluster: the node did not come up; logs in $dir/log" >&2
  exit 1
  ;;
stop)
  export SLURM_CONF=$conf
  scancel --full --user="$(id -un)" 2>/dev/null || true
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
