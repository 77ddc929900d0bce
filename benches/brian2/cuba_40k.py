"""Brian2 equivalent of benches/models/cuba_40k.model (C++ standalone)."""
from common import Bench

bench = Bench()
from brian2 import *  # noqa: E402,F401

taum = 20*ms
taue = 5*ms
taui = 10*ms
Vt = -50*mV
Vr = -60*mV
El = -49*mV

defaultclock.dt = 0.1*ms
seed(42)

eqs = '''
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
'''
P = NeuronGroup(40000, eqs, threshold='v>Vt', reset='v = Vr', refractory=5*ms,
                method='exact', name='P')
P.v = 'Vr + rand() * (Vt - Vr)'
P.ge = 0*mV
P.gi = 0*mV

we = (60*0.27/10)*mV
wi = (-20*4.5/10)*mV
Ce = Synapses(P, P, on_pre='ge += we', name='Ce')
Ci = Synapses(P, P, on_pre='gi += wi', name='Ci')
Ce.connect('i<32000', p=0.002)
Ci.connect('i>=32000', p=0.002)

spikes = SpikeMonitor(P, name='spikes')

bench.start()
run(1*second)
bench.finish(spikes)
