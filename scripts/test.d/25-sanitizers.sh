#!/usr/bin/env bash
# Runs the server's and the client library's unit and integration tests
# under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer:
# a clang build of the whole server with LibTorch in its own build directory,
# then every GoogleTest binary that CTest runs from server/ and client/ (unit
# tests next to the code; the client's run the CLI's commands against fake
# servers) and from tests/server, tests/video and tests/metrics (integration
# tests on real loopback servers, stylizer-server itself included;
# video_e2e_test only in part, see SANITIZER_EXCLUDE below). The CLI's
# end-to-end, Python and promtool tests stay out.
#
# LibTorch, gRPC, protobuf and FFmpeg are Debian's uninstrumented libraries:
# ASan still checks every access our code makes (also into their buffers)
# and intercepts their malloc/free; it cannot see accesses inside them.
#
# Any sanitizer report fails the test that triggered it (halt_on_error, and
# UBSan does not recover). Measured on a 2-core machine shared with several
# other builds (load average 10-12): about 22 minutes to build from a cold
# ccache, then 3.5 minutes for the 21 tests; ccache shortens later builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
CC_BIN=${SANITIZER_CC:-$(command -v clang || command -v clang-14)}
CXX_BIN=${SANITIZER_CXX:-$(command -v clang++ || command -v clang++-14)}
sanitize="-fsanitize=address,undefined"
sanitize+=" -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
flags="$sanitize -g -O1"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
            -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$ASAN_BUILD_DIR"
CC=$CC_BIN CXX=$CXX_BIN cmake -S . -B "$ASAN_BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$sanitize" \
  -DCMAKE_SHARED_LINKER_FLAGS="$sanitize" \
  -DSTYLIZER_BUILD_BENCH=OFF "${launcher[@]}" \
  >"$ASAN_BUILD_DIR/configure.log" 2>&1 ||
  { cat "$ASAN_BUILD_DIR/configure.log"; exit 1; }

# The tests: those declared with stylizer_cc_test (GoogleTest binaries) in a
# CMakeLists.txt under server/ or tests/{server,video,metrics}, read from
# CTest's own description of where each test was declared.
mapfile -t tests < <(
  ctest --test-dir "$ASAN_BUILD_DIR" -N --show-only=json-v1 |
    python3 -c '
import json, os, sys
source = os.path.realpath(sys.argv[1])
wanted = ("server/", "client/", "tests/server/", "tests/video/", "tests/metrics/")
info = json.load(sys.stdin)
graph = info["backtraceGraph"]
for test in info["tests"]:
    node, commands, declared_in = test.get("backtrace"), set(), None
    while node is not None:
        entry = graph["nodes"][node]
        if "command" in entry:
            commands.add(graph["commands"][entry["command"]])
        path = os.path.relpath(graph["files"][entry["file"]], source)
        if path.endswith("CMakeLists.txt") and declared_in is None:
            declared_in = path
        node = entry.get("parent")
    if "stylizer_cc_test" in commands and declared_in and \
            declared_in.startswith(wanted):
        print(test["name"])
' "$PWD")
# SANITIZER_TESTS="a b" narrows the run to those tests (by hand, for speed).
# SANITIZER_EXCLUDE leaves tests out; by default movie_reader_probe_test: it
# replaces posix_memalign to watch FFmpeg's allocations, which ASan's
# allocator cannot share (FFmpeg frees that memory through ASan's free).
# video_e2e_test, the slowest whole (10+ minutes instrumented on a loaded
# 2-core machine), runs only its cases of hostile media and cut-off uploads
# (SANITIZER_VIDEO_E2E_FILTER, a GoogleTest filter; "*" runs them all); the
# movie pipeline also runs instrumented in video_pipeline_test,
# video_pipeline_sound_test, video_pipeline_picture_test and
# video_pipeline_refusal_test, and through the real server in server_rpc_test
# and server_process_test.
if [ -n "${SANITIZER_TESTS:-}" ]; then
  mapfile -t tests < <(printf '%s\n' "${tests[@]}" |
    grep -Fx -f <(tr ' ' '\n' <<<"$SANITIZER_TESTS"))
fi
exclude=${SANITIZER_EXCLUDE-movie_reader_probe_test}
export SANITIZER_VIDEO_E2E_FILTER=${SANITIZER_VIDEO_E2E_FILTER-*AudioLayoutChange*:*AdtsAac*:*LargeMp4WithoutInputSize*:*CancelMidUpload*:*BadInput*:*BadJobMessages*:*UploadsOverTheLimit*}
if [ -n "$exclude" ]; then
  mapfile -t tests < <(printf '%s\n' "${tests[@]}" |
    grep -Fxv -f <(tr ' ' '\n' <<<"$exclude"))
fi
[ ${#tests[@]} -gt 0 ] || { echo "sanitizers: no tests found" >&2; exit 1; }
echo "sanitizers: ${#tests[@]} tests: ${tests[*]}"
cmake --build "$ASAN_BUILD_DIR" -j "${JOBS:-2}" \
  --target stylizer-server stylizer_testdata "${tests[@]}"

# allocator_may_return_null: a failed allocation returns null as malloc does
# (LibTorch then throws), instead of ASan aborting the process; the model
# test that caps memory to check the RESOURCE_EXHAUSTED path needs it.
asan="halt_on_error=1:abort_on_error=0:exitcode=67:detect_leaks=1"
asan+=":allocator_may_return_null=1:strict_string_checks=1"
asan+=":check_initialization_order=1:detect_odr_violation=1"
export ASAN_OPTIONS=$asan
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# The tests run as CTest describes them (command, working directory,
# environment), two at a time, but with SANITIZER_TIMEOUT_SCALE (3) times
# their TIMEOUT: instrumented code runs 2-3x slower, and CTest's --timeout
# cannot lengthen a TIMEOUT property.
ctest --test-dir "$ASAN_BUILD_DIR" -N --show-only=json-v1 |
  python3 -c '
import concurrent.futures, json, os, subprocess, sys, time
wanted = set(sys.argv[1].split())
jobs, scale, logs = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
os.makedirs(logs, exist_ok=True)
tests = [t for t in json.load(sys.stdin)["tests"] if t["name"] in wanted]
# The integration tests are the long ones: start them first.
tests.sort(key=lambda t: not any(
    p["name"] == "LABELS" and "integration" in p["value"]
    for p in t.get("properties", [])))

def run(test):
    props = {p["name"]: p["value"] for p in test.get("properties", [])}
    env = dict(os.environ)
    env.update(v.split("=", 1) for v in props.get("ENVIRONMENT", []))
    if test["name"] == "video_e2e_test":
        env["GTEST_FILTER"] = os.environ["SANITIZER_VIDEO_E2E_FILTER"]
    limit = scale * float(props.get("TIMEOUT", 600))
    log = os.path.join(logs, test["name"] + ".log")
    start = time.monotonic()
    with open(log, "wb") as out:
        try:
            rc = subprocess.run(test["command"], cwd=props.get(
                "WORKING_DIRECTORY"), env=env, stdout=out,
                stderr=subprocess.STDOUT, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    seconds = time.monotonic() - start
    verdict = "ok" if rc == 0 else "FAILED (%s)" % rc
    print("%s: %s in %.0f s (limit %.0f s)" % (test["name"], verdict,
                                               seconds, limit), flush=True)
    return test["name"], rc, log

with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
    results = list(pool.map(run, tests))
failed = [(name, log) for name, rc, log in results if rc != 0]
for name, log in failed:
    with open(log, errors="replace") as f:
        print(f"==== {name} ({log}), last lines:")
        print("".join(f.readlines()[-60:]))
sys.exit(1 if failed or len(results) != len(wanted) else 0)
' "${tests[*]}" "${CTEST_JOBS:-2}" "${SANITIZER_TIMEOUT_SCALE:-3}" \
  "$ASAN_BUILD_DIR/sanitizer-logs"
echo "sanitizers: no reports in ${#tests[@]} tests"
