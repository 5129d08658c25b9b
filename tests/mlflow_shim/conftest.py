# the scripts are programs the tests run in subprocesses: --doctest-modules must not import (run) them
collect_ignore_glob = ["scripts/*"]
