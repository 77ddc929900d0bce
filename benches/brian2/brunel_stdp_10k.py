"""Brian2 equivalent of benches/models/brunel_stdp_10k.model (C++ standalone)."""
from common import Bench

bench = Bench()
from brian2 import *  # noqa: E402,F401

N_E = 8000
N_I = 2000
epsilon = 0.1
C_E = epsilon*N_E
g = 5
eta = 2

tau = 20*ms
theta = 20*mV
V_r = 10*mV
tau_rp = 2*ms
J = 0.1*mV
D = 1.5*ms

nu_thr = theta/(J*C_E*tau)
nu_ext = eta*nu_thr

taupre = 20*ms
taupost = 20*ms
wmax = 0.2*mV
dApre = 0.01*J
dApost = -1.05*dApre

defaultclock.dt = 0.1*ms
seed(2000)

neurons = NeuronGroup(N_E + N_I, 'dv/dt = -v/tau : volt (unless refractory)',
                      threshold='v > theta', reset='v = V_r',
                      refractory=tau_rp, method='exact', name='neurons')
neurons.v = 'rand()*theta'
exc = neurons[:N_E]
inh_group = neurons[N_E:]

ee = Synapses(exc, exc,
              '''w : volt
                 dApre/dt = -Apre/taupre : volt (event-driven)
                 dApost/dt = -Apost/taupost : volt (event-driven)''',
              on_pre='''v_post += w
                        Apre += dApre
                        w = clip(w + Apost, 0*mV, wmax)''',
              on_post='''Apost += dApost
                         w = clip(w + Apre, 0*mV, wmax)''',
              delay=D, name='ee')
ee.connect(p=epsilon)
ee.w = 'J'
ei = Synapses(exc, inh_group, on_pre='v += J', delay=D, name='ei')
ei.connect(p=epsilon)
inh = Synapses(inh_group, neurons, on_pre='v += -g*J', delay=D, name='inh')
inh.connect(p=epsilon)

external = PoissonInput(neurons, 'v', N=C_E, rate=nu_ext, weight=J)

spikes = SpikeMonitor(neurons, name='spikes')

bench.start()
run(1*second)
bench.finish(spikes)
