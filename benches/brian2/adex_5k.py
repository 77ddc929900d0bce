"""Brian2 equivalent of benches/models/adex_5k.model (C++ standalone)."""
from common import Bench

bench = Bench()
from brian2 import *  # noqa: E402,F401

C = 281*pF
gL = 30*nS
EL = -70.6*mV
VT = -50.4*mV
DeltaT = 2*mV
Vcut = VT + 5*DeltaT
tauw = 144*ms
a = 4*nS
b = 0.0805*nA
Vr = -70.6*mV

defaultclock.dt = 0.1*ms
seed(1)

neurons = NeuronGroup(5000,
                      '''dvm/dt = (gL*(EL - vm) + gL*DeltaT*exp((vm - VT)/DeltaT) + I - w)/C : volt
                         dw/dt = (a*(vm - EL) - w)/tauw : amp
                         I : amp (constant)''',
                      threshold='vm > Vcut', reset='vm = Vr\nw += b',
                      method='rk4', name='neurons')
neurons.vm = 'EL'
neurons.w = '0*nA'
neurons.I = '0.25*nA + 1.25*nA*i/N'
spikes = SpikeMonitor(neurons, name='spikes')

bench.start()
run(1*second)
bench.finish(spikes)
