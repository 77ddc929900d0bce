"""Brian2 equivalent of benches/models/lif_100k.model (C++ standalone)."""
from common import Bench

bench = Bench()
from brian2 import *  # noqa: E402,F401

taum = 10*ms
R = 100*Mohm
El = -70*mV
Vt = -50*mV
Vr = -70*mV

defaultclock.dt = 0.1*ms
seed(1)

neurons = NeuronGroup(100000,
                      '''dv/dt = (El - v + R*I)/taum : volt (unless refractory)
                         I : amp (constant)''',
                      threshold='v > Vt', reset='v = Vr', refractory=5*ms,
                      method='exact', name='neurons')
neurons.v = 'El'
neurons.I = '100*pA + 250*pA*i/N'
spikes = SpikeMonitor(neurons, name='spikes')

bench.start()
run(1*second)
bench.finish(spikes)
