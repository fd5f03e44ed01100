#!/usr/bin/env bash
# down.sh - stop the localhost SLURM cluster started by up.sh, by PID (from its pid files).
#   The project's copy of /work/shared/slurm/down.sh, used by tests/test_slurm.py.
# Order: cancel jobs -> slurmd -> slurmctld -> slurmdbd -> mariadbd -> munged.
#   down.sh          stop daemons, keep state (job ids, accounting DB) for the next up.sh
#   down.sh --wipe   also delete slurm state, accounting DB, fake devices and logs
# Either way the config files up.sh wrote are removed (up.sh writes them afresh each time): a
# slurm.conf naming a stopped slurmctld makes every `scontrol show config` retry port 6817 for
# MessageTimeout (10 s), and snakemake-executor-plugin-slurm 2.8 runs that command when it is
# imported, i.e. at the start of every `snakemake` call, even `snakemake -n` without the profile.
set -uo pipefail
D=${LOCALSLURM_DIR:-/var/lib/localslurm}
RUN=$D/run

# running = exists and is not a zombie (the daemons are re-parented to PID 1, which may reap late)
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

stop_pidfile() { # stop_pidfile NAME PIDFILE
  local name=$1 f=$2 pid
  [ -s "$f" ] || { echo "down.sh: $name: no pid file"; return 0; }
  pid=$(cat "$f")
  if ! running "$pid"; then echo "down.sh: $name: not running"; rm -f "$f"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 150); do running "$pid" || break; sleep 0.2; done
  if running "$pid"; then kill -KILL "$pid"; echo "down.sh: $name ($pid) killed"
  else echo "down.sh: $name ($pid) stopped"; fi
  rm -f "$f"
}

# cancel whatever is still queued/running (slurmstepd processes outlive slurmd otherwise)
if [ -s "$RUN/slurmctld.pid" ] && running "$(cat "$RUN/slurmctld.pid")"; then
  if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
    # shellcheck disable=SC2046
    scancel --full $(squeue -h -o %i) 2>/dev/null
    for _ in $(seq 1 50); do [ -z "$(squeue -h -t R,CG,PD -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
stop_pidfile slurmd    "$RUN/slurmd.pid"
stop_pidfile slurmctld "$RUN/slurmctld.pid"
stop_pidfile slurmdbd  "$RUN/slurmdbd.pid"
stop_pidfile mariadbd  "$D/mysql-run/mysqld.pid"
stop_pidfile munged    /run/munge/munged.pid

# only a config that up.sh wrote (its first line says so); a site's own slurm.conf is kept
if head -1 /etc/slurm/slurm.conf 2>/dev/null | grep -q '^# written by up.sh'; then
  rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf
  echo "down.sh: removed /etc/slurm/{slurm,gres,slurmdbd}.conf (written by up.sh)"
fi

if [ "${1:-}" = "--wipe" ]; then
  rm -rf "$D" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  echo "down.sh: state wiped"
fi
