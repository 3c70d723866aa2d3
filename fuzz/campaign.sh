#!/usr/bin/env bash
# Runs every fuzz target in turn on one core for DURATION seconds each (default 660),
# logging libFuzzer's output to LOGDIR/<target>.log (default /tmp/fuzz-campaign).
#
#   nohup fuzz/campaign.sh 660 /tmp/fuzz-campaign >/dev/null 2>&1 &
#
# New corpus entries go to fuzz/corpus/<target>/ (git-ignored), seeds are read from
# fuzz/seeds/<target>/, crashes land in fuzz/artifacts/<target>/. LOGDIR/summary.txt gets
# one line per target with libFuzzer's exit status (0 = ran out the clock, no crash).
set -u
DURATION=${1:-660}
LOGDIR=${2:-/tmp/fuzz-campaign}
FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
TARGETS=${TARGETS:-"flap snac tlv message user_info room_info host_port text icbm_content dns_query dns_config sni_name api_bodies http_connect_reply directory policy_text secret_text proc_groups high_water_mark journal spool_segment ring_block sensor_stream transcript_text"}
export PATH="$HOME/.cargo/bin:$PATH"
# cargo-fuzz needs nightly-only flags (-Zsanitizer); the pinned stable toolchain accepts them
# with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1

mkdir -p "$LOGDIR"
for t in $TARGETS; do
    mkdir -p "$FUZZ_DIR/corpus/$t" "$LOGDIR/work-$t"
    # With -jobs, libFuzzer writes the job's output to ./fuzz-0.log: point it at the log.
    ln -sfn "$LOGDIR/$t.log" "$LOGDIR/work-$t/fuzz-0.log"
    start=$(date +%s)
    (
        cd "$LOGDIR/work-$t" &&
            cargo fuzz run --fuzz-dir "$FUZZ_DIR" "$t" "$FUZZ_DIR/corpus/$t" "$FUZZ_DIR/seeds/$t" \
                -- -max_total_time="$DURATION" -jobs=1 -workers=1
    ) >"$LOGDIR/$t.driver.log" 2>&1
    status=$?
    echo "$t exit=$status seconds=$(($(date +%s) - start))" >>"$LOGDIR/summary.txt"
done
echo "done $(date -u +%FT%TZ)" >>"$LOGDIR/summary.txt"
