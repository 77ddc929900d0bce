"""Brian2 equivalent of benches/models/izhikevich_20k.model (C++ standalone)."""
from common import Bench

bench = Bench()
from brian2 import *  # noqa: E402,F401

a = 0.02/ms
b = 0.2
c = -65*mV
d = 8*mV

defaultclock.dt = 0.1*ms
seed(1)

neurons = NeuronGroup(20000,
                      '''dv/dt = (0.04/mV*v**2 + 5*v + 140*mV - u + I)/ms : volt
                         du/dt = a*(b*v - u) : volt
                         I : volt (constant)''',
                      threshold='v >= 30*mV', reset='v = c\nu += d',
                      method='euler', name='neurons')
neurons.I = '15*mV*i/N'
neurons.v = '-65*mV'
neurons.u = 'b*v'
spikes = SpikeMonitor(neurons, name='spikes')

bench.start()
run(1*second)
bench.finish(spikes)
