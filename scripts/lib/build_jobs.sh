# build_jobs [MEMINFO]: the compile jobs for this machine, printed: one per
# core, fewer where memory is short (2 GiB each; a LibTorch translation
# unit takes about that much), at least one. Sourced by scripts/build.sh.
build_jobs() {
  local meminfo=${1:-/proc/meminfo}
  local jobs avail_kb by_memory
  jobs=$(nproc)
  avail_kb=$(awk '/^MemAvailable:/ {print $2}' "$meminfo" 2>/dev/null || true)
  if [ -n "$avail_kb" ] && [ "$avail_kb" -gt 0 ]; then
    # Under 2 GiB this is 0: one job, not (as it was) every core.
    by_memory=$(( avail_kb / (2 * 1024 * 1024) ))
    [ "$by_memory" -ge 1 ] || by_memory=1
    [ "$by_memory" -ge "$jobs" ] || jobs=$by_memory
  fi
  echo "$jobs"
}
