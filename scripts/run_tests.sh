#!/usr/bin/env bash
# `make test`'s two pytest runs, side by side: the contract tests through brownie's plugin (its own Ganache
# on port 8555, serial) and the backend and browser tests without it, spread over pytest-xdist workers (free
# ports, one PostgreSQL database per worker: tests/support/index.py). Both mostly wait on their chains and on
# Chromium, so running them together saves most of the contract tests' three minutes.
# The contract run's output goes to reports/contract-tests.log and is printed after the other run's.
# Any non-zero exit fails, including pytest's 5 (nothing collected).
# Usage: scripts/run_tests.sh "CONTRACT COMMAND" "BACKEND COMMAND" (the Makefile's CONTRACT_TESTS and
# BACKEND_TESTS: each a plain command line, split on spaces)
set -uo pipefail
read -r -a contract_tests <<<"$1"
read -r -a backend_tests <<<"$2"
mkdir -p reports
log=reports/contract-tests.log

"${contract_tests[@]}" >"$log" 2>&1 &
contracts=$!
trap 'kill "$contracts" 2>/dev/null' INT TERM

"${backend_tests[@]}"
backend=$?
wait "$contracts"
contract=$?

echo "=== contract tests (tests/contracts, run beside the tests above): $log ==="
cat "$log"
echo "=== backend and browser tests: exit $backend; contract tests: exit $contract ==="
[ "$backend" -eq 0 ] && [ "$contract" -eq 0 ]
