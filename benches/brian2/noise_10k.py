"""Brian2 equivalent of benches/models/noise_10k.model (C++ standalone)."""
from common import Bench

bench = Bench()
from brian2 import *  # noqa: E402,F401

taum = 20*ms
El = -65*mV
mu = -52*mV
sigma = 4*mV
Vt = -50*mV
Vr = -60*mV

defaultclock.dt = 0.1*ms
seed(7)

neurons = NeuronGroup(10000,
                      'dv/dt = (mu - v)/taum + sigma*sqrt(2/taum)*xi : volt (unless refractory)',
                      threshold='v > Vt', reset='v = Vr', refractory=2*ms,
                      method='euler', name='neurons')
neurons.v = 'El'
spikes = SpikeMonitor(neurons, name='spikes')

bench.start()
run(1*second)
bench.finish(spikes)
