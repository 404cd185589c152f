"""Where the Python tests find the built binaries and the test model.

CTest sets STYLIZER_SERVER_BIN, STYLIZER_CLI and STYLIZER_TEST_MODEL; a test
run by hand finds them under STYLIZER_BUILD_DIR (default: build/ in the source
tree, STYLIZER_SOURCE_DIR, whose default is this checkout).
"""
import os

SOURCE = os.environ.get(
    "STYLIZER_SOURCE_DIR",
    os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "..", "..")))
BUILD = os.environ.get("STYLIZER_BUILD_DIR", os.path.join(SOURCE, "build"))
SERVER = os.environ.get("STYLIZER_SERVER_BIN",
                        os.path.join(BUILD, "server", "stylizer-server"))
CLI = os.environ.get("STYLIZER_CLI", os.path.join(BUILD, "client", "stylizer"))
TEST_MODEL = os.environ.get("STYLIZER_TEST_MODEL",
                            os.path.join(BUILD, "testdata", "random4.pt"))
