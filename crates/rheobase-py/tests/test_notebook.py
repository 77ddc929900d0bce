"""A run in a real Jupyter kernel, interrupted as a notebook's "interrupt
the kernel" button does it: the kernel manager sends SIGINT to the kernel
process while a cell is running `sim.run(...)`."""

import threading

import jupyter_client
import pytest

MODEL = """\
tau = 10*ms
NeuronGroup G(3):
    model:
        dv/dt = (1.5 - v)/tau : 1
    threshold: v > 1
    reset: v = 0
    method: exact
SpikeMonitor spikes(G)
"""


def _run_cell(client, code, timeout=60):
    """Runs `code` in the kernel; returns its reply and what it printed."""
    printed = []

    def keep_output(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    reply = client.execute_interactive(code, timeout=timeout, output_hook=keep_output)
    return reply["content"], "".join(printed)


@pytest.fixture
def kernel():
    manager, client = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_interrupting_the_kernel_stops_the_run_and_keeps_the_results(kernel):
    manager, client = kernel
    reply, _ = _run_cell(
        client,
        f"import rheobase\nsim = rheobase.compile({MODEL!r}).simulation(seed=1)",
    )
    assert reply["status"] == "ok", reply

    # Ten thousand simulated seconds would take minutes: the interrupt,
    # two seconds in, must end the cell long before that.
    interrupt = threading.Timer(2.0, manager.interrupt_kernel)
    interrupt.start()
    try:
        reply, _ = _run_cell(client, "sim.run(10000.0)", timeout=120)
    finally:
        interrupt.cancel()
    assert reply["status"] == "error"
    assert reply["ename"] == "KeyboardInterrupt"

    # The kernel is alive, the simulation stopped part-way with what it
    # recorded, and it goes on from there.
    reply, printed = _run_cell(
        client,
        "print(sim.t, sim.monitors['spikes'].num_spikes, sim.monitors['spikes'].t.max())\n"
        "before = sim.t\n"
        "sim.run(0.01)\n"
        "print(round(sim.t - before, 9))",
    )
    assert reply["status"] == "ok", reply
    first, second = printed.splitlines()
    t, spikes, last_spike = first.split()
    assert 0.0 < float(t) < 10000.0
    assert int(spikes) > 0
    assert float(last_spike) <= float(t)
    assert float(second) == pytest.approx(0.01)
