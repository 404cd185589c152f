# Sourced by the build and test scripts: when ccache is installed, CMake's
# first configure of any build directory gets it as the compiler launcher
# (CMake reads these variables from the environment), with cache keys made
# of paths relative to the checkout, so every clone shares one cache.
if command -v ccache >/dev/null 2>&1; then
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER-ccache}
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER-ccache}
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(pwd -P)}
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
fi
