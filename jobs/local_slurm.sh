#!/usr/bin/env bash
# A one-node Slurm cluster on 127.0.0.1, for trying the cluster path on a laptop and for the tests:
#
#   jobs/local_slurm.sh start     # installs Debian's slurm-wlm and munge if missing (root), starts munged,
#                                 # slurmctld and slurmd with their state in $RLREASON_SLURM_DIR
#   source "$RLREASON_SLURM_DIR/env.sh"   # SLURM_CONF and PATH for sbatch, squeue, scontrol, sacct
#   sbatch --wrap hostname; squeue
#   jobs/local_slurm.sh stop      # stops the daemons (the state folder stays until removed)
#   jobs/local_slurm.sh status    # "running" or "stopped" (exit 0 / 1)
#
# RLREASON_SLURM_DIR defaults to /tmp/rlreason-slurm. The node is this machine as `slurmd -C` describes it;
# partition `debug` is the default. Accounting is off, so `sacct` is not served by Slurm: env.sh puts a `sacct`
# first on PATH that answers from `scontrol -o show job` (what submitit asks: a job's state), with completed
# jobs kept for a day (MinJobAge). Jobs run as root, since the daemons do.
set -euo pipefail

STATE="${RLREASON_SLURM_DIR:-/tmp/rlreason-slurm}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF="$STATE/slurm.conf"

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "local_slurm.sh: slurm-wlm and munge are not installed; run as root or: sudo apt-get install -y slurm-wlm munge" >&2
    exit 1
  fi
  echo "local_slurm.sh: installing slurm-wlm and munge" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

running() {
  [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null \
    && [ -f "$STATE/slurmd.pid" ] && kill -0 "$(cat "$STATE/slurmd.pid")" 2>/dev/null
}

write_config() {
  local node
  node="$(slurmd -C | head -1 | sed 's/ Boards=[0-9]*//; s/ SocketsPerBoard=[0-9]*//; s/ CoresPerSocket=[0-9]*//; s/ ThreadsPerCore=[0-9]*//')"
  local name
  name="$(echo "$node" | sed 's/^NodeName=\([^ ]*\).*/\1/')"
  cat >"$CONF" <<EOF
ClusterName=rlreason-local
SlurmctldHost=$name(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${RLREASON_SLURMCTLD_PORT:-6817}
SlurmdPort=${RLREASON_SLURMD_PORT:-6818}
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket.2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=batch_sched_delay=0
SchedulerType=sched/backfill
EnforcePartLimits=ALL
MinJobAge=86400
KillWait=10
JobRequeue=1
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
}

write_env() {
  mkdir -p "$STATE/bin"
  cp "$HERE/sacct_from_scontrol" "$STATE/bin/sacct"
  chmod 755 "$STATE/bin/sacct"
  cat >"$STATE/env.sh" <<EOF
export SLURM_CONF="$CONF"
export PATH="$STATE/bin:\$PATH"
EOF
}

start() {
  install_packages
  if running; then
    echo "local_slurm.sh: already running (state in $STATE)" >&2
    return
  fi
  mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/munge"
  chmod 755 "$STATE" "$STATE/munge"  # munged refuses a socket folder others cannot traverse
  if [ ! -f "$STATE/munge.key" ]; then
    dd if=/dev/urandom bs=1 count=1024 of="$STATE/munge.key" status=none
    chmod 400 "$STATE/munge.key"
  fi
  munged --force --key-file="$STATE/munge.key" --socket="$STATE/munge/munge.socket.2" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munge.seed"
  write_config
  write_env
  slurmctld -f "$CONF"
  slurmd -f "$CONF"
  for _ in $(seq 1 60); do
    if SLURM_CONF="$CONF" sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "local_slurm.sh: running; state in $STATE; source $STATE/env.sh" >&2
      return
    fi
    sleep 0.5
  done
  echo "local_slurm.sh: the node did not come up; see $STATE/slurmctld.log and $STATE/slurmd.log" >&2
  tail -5 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
  exit 1
}

stop() {
  for daemon in slurmd slurmctld munge/munged; do
    if [ -f "$STATE/$daemon.pid" ]; then
      kill "$(cat "$STATE/$daemon.pid")" 2>/dev/null || true
    fi
  done
  for daemon in slurmd slurmctld munge/munged; do
    for _ in $(seq 1 40); do
      [ -f "$STATE/$daemon.pid" ] && kill -0 "$(cat "$STATE/$daemon.pid")" 2>/dev/null || break
      sleep 0.25
    done
    rm -f "$STATE/$daemon.pid"
  done
  echo "local_slurm.sh: stopped" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo running; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
