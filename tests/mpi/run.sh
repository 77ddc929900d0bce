#!/usr/bin/env bash
# Runs models on 2 and 3 MPI ranks (and with 2 threads per rank, and with
# recordings written out every step, and those with delays between ranks
# with windows overlapping local work, `--overlap`) and requires every
# .npz to be byte for byte the one a single process writes; interrupts
# one rank of an overlapping run and requires every rank to stop and the
# results to be written; runs a model that only fits in memory when
# split; then requires a model that cannot run split to be refused with
# its message (refused_pre_clip.stderr).
#
# Usage: tests/mpi/run.sh PATH/TO/rheo   (built with --features mpi)
set -euo pipefail
rheo=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun=(mpirun --allow-run-as-root --oversubscribe)

models=(
    "$root/spec-examples/cuba.model"
    "$root/spec-examples/brunel2000.model"
    "$root/spec-examples/coba.model"
    "$root/tests/models/poisson_synapses.model"
    "$root/spec-examples/gap_junctions.model"
    "$root/tests/ranks/delays_local_and_far.model"
    "$root/tests/ranks/presynaptic_reads.model"
    "$root/tests/ranks/presynaptic_reads_ring.model"
    "$root/tests/ranks/events_and_pathways.model"
    "$root/tests/models/custom_events_example.model"
    "$root/tests/ranks/linked_one_neuron.model"
    "$root/tests/ranks/connect_by_row.model"
    "$root/tests/models/synapse_record_pairs.model"
    "$root/tests/models/ex_Kremer_et_al_2011.model"
    "$root/tests/ranks/synapses_onto_synapses_split.model"
    "$root/tests/models/synapse_chain_delays_on_post.model"
    "$root/tests/models/linked_index.model"
    "$root/tests/models/spike_monitor_schedule.model"
    "$root/tests/models/two_clocks.model"
    "$root/tests/ranks/shifted_pathways.model"
    "$root/tests/ranks/shared_accumulated.model"
    "$root/tests/ranks/presynaptic_writes_products.model"
    "$root/tests/ranks/presynaptic_writes_assign_scale.model"
    "$root/tests/ranks/presynaptic_writes_delays_changed.model"
    "$here/cuba_4k_short.model"
)
overlapping=(
    "$root/spec-examples/brunel2000.model"
    "$root/tests/ranks/delays_local_and_far.model"
    "$root/tests/ranks/events_and_pathways.model"
    "$root/tests/ranks/linked_one_neuron.model"
    "$root/tests/ranks/shifted_pathways.model"
)
failed=0
for model in "${models[@]}"; do
    name=$(basename "$model" .model)
    "$rheo" run "$model" --out "$work/$name-1" --quiet --seed 11
    runs=("2 1 64" "3 1 64" "2 2 64" "3 1 0")
    # Models whose shortest delay between ranks is 2 steps or more also
    # run with overlap.
    for o in "${overlapping[@]}"; do
        if [ "$o" = "$model" ]; then
            runs+=("2 1 64 --overlap" "3 2 64 --overlap")
        fi
    done
    for run in "${runs[@]}"; do
        read -r n threads buffer overlap <<<"$run"
        out="$work/$name-$n-$threads-$buffer$overlap"
        "${mpirun[@]}" -n "$n" "$rheo" run "$model" --out "$out" --quiet --seed 11 \
            --threads "$threads" --buffer-mb "$buffer" $overlap
        for f in "$work/$name-1"/*.npz; do
            if ! cmp -s "$f" "$out/$(basename "$f")"; then
                echo "MPI: $name on $n ranks ($threads threads, buffer $buffer MB $overlap): $(basename "$f") differs" >&2
                failed=1
            fi
        done
        if ! grep -q "\"ranks\": $n" "$out/run.json"; then
            echo "MPI: $name on $n ranks: run.json does not say \"ranks\": $n" >&2
            failed=1
        fi
    done
    echo "MPI: $name: 2 and 3 ranks give the same archives as one process"
done

# Ctrl-C (SIGINT) to one rank of a run whose windows overlap local work:
# every rank stops after the same window, rank 0 writes what was recorded
# and marks run.json interrupted, and the run exits with 130.
"${mpirun[@]}" -n 2 "$rheo" run "$here/long_delays.model" --out "$work/interrupted" \
    --quiet --threads 1 --overlap 2>"$work/interrupted.stderr" &
launcher=$!
sleep 2
ranks_started=($(pgrep -P "$launcher" || true))
if [ "${#ranks_started[@]}" -ne 2 ]; then
    echo "MPI: expected 2 rank processes under mpirun, found ${#ranks_started[@]}" >&2
    failed=1
fi
kill -INT "${ranks_started[1]:-$launcher}"
set +e
if ! timeout 60 tail --pid="$launcher" -f /dev/null; then
    echo "MPI: the interrupted overlapping run did not stop within 60 s" >&2
    failed=1
    kill -KILL "$launcher"
fi
wait "$launcher"
code=$?
set -e
summary="$work/interrupted/run.json"
if [ "$code" -ne 130 ] || ! grep -q '"status": "interrupted"' "$summary" \
    || ! grep -q '"overlapped_windows": [1-9]' "$summary" \
    || grep -q panicked "$work/interrupted.stderr" \
    || [ ! -s "$work/interrupted/spikes.npz" ] || [ ! -s "$work/interrupted/trace.npz" ]; then
    echo "MPI: interrupting one rank of an overlapping run (exit $code):" >&2
    cat "$work/interrupted.stderr" >&2
    failed=1
fi
echo "MPI: SIGINT to one rank of an overlapping run stops every rank, results written"

# A model that fits in memory only when split: refused on one process,
# run on two (the limit is per rank), with the same archives. The model
# needs about 200 MB on one process and 100 MB per rank: with the limit
# at 180 MB, less what each process already holds (16-25 MB), it cannot
# fit on one and fits on each of two with room to spare, so the test
# does not depend on the process's own memory.
dense="$here/cuba_dense_short.model"
"$rheo" run "$dense" --out "$work/dense-1" --quiet --seed 11
if "$rheo" run "$dense" --out "$work/fits-1" --quiet --seed 11 --memory-gb 0.18 2>/dev/null; then
    echo "MPI: cuba_dense_short ran on one process in 180 MB; expected a refusal" >&2
    failed=1
fi
"${mpirun[@]}" -n 2 "$rheo" run "$dense" --out "$work/fits-2" --quiet --seed 11 --memory-gb 0.18
for f in "$work/dense-1"/*.npz; do
    if ! cmp -s "$f" "$work/fits-2/$(basename "$f")"; then
        echo "MPI: cuba_dense_short split to fit 180 MB per rank: $(basename "$f") differs" >&2
        failed=1
    fi
done
echo "MPI: a model refused in 180 MB on one process runs on 2 ranks of 180 MB each"

# What cannot run split is refused before anything runs, naming it: the
# message rheo prints (before mpirun's own lines) is the golden
# refused_pre_clip.stderr, run from the workspace root so that it names
# the model as a user there would.
set +e
(cd "$root" && "${mpirun[@]}" -n 2 "$rheo" run tests/mpi/refused_pre_clip.model \
    --out "$work/refused" --quiet 2>"$work/refused.stderr")
code=$?
set -e
sed -n '/^-----/q;p' "$work/refused.stderr" >"$work/refused.rheo"
if [ "$code" -eq 0 ] || ! cmp -s "$work/refused.rheo" "$here/refused_pre_clip.stderr"; then
    echo "MPI: refused_pre_clip was not refused as expected (exit $code):" >&2
    diff "$here/refused_pre_clip.stderr" "$work/refused.rheo" >&2 || true
    failed=1
fi
exit $failed
