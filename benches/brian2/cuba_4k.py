"""Brian2 equivalent of benches/models/cuba_4k.model (C++ standalone)."""
from common import Bench

bench = Bench()
from cuba_network import build  # noqa: E402
from brian2 import second  # noqa: E402

net, spikes = build(4000)

bench.start()
net.run(1*second)
bench.finish(spikes)
