"""The CUBA network of benches/models/cuba_*.model for Brian2 (C++ standalone).

`build(n)` makes Brian2's examples/CUBA.py with n neurons (4/5 excitatory)
and about 80 synapses per neuron (p = 80/n), the growth series of the
benchmarks; each cuba_*.py script calls it with its own size.
"""
from brian2 import *  # noqa: F401,F403


def build(n):
    """A Network of the model and its SpikeMonitor, for n neurons (an
    explicit Network: the magic run() sees only the caller's names)."""
    n_exc = n * 4 // 5
    p = 80 / n
    # Brian2 resolves names in the frame that calls run(), the script, so
    # the constants are handed over explicitly.
    ns = dict(taum=20*ms, taue=5*ms, taui=10*ms, Vt=-50*mV, Vr=-60*mV,
              El=-49*mV, we=(60*0.27/10)*mV, wi=(-20*4.5/10)*mV, n_exc=n_exc)

    defaultclock.dt = 0.1*ms
    seed(42)

    eqs = '''
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    '''
    P = NeuronGroup(n, eqs, threshold='v>Vt', reset='v = Vr', refractory=5*ms,
                    method='exact', name='P', namespace=ns)
    P.v = 'Vr + rand() * (Vt - Vr)'
    P.ge = 0*mV
    P.gi = 0*mV

    Ce = Synapses(P, P, on_pre='ge += we', name='Ce', namespace=ns)
    Ci = Synapses(P, P, on_pre='gi += wi', name='Ci', namespace=ns)
    Ce.connect('i<n_exc', p=p)
    Ci.connect('i>=n_exc', p=p)

    spikes = SpikeMonitor(P, name='spikes')
    return Network(P, Ce, Ci, spikes), spikes
