"""Brian2 equivalent of benches/models/brunel_wang.model (C++ standalone)."""
from common import Bench

bench = Bench()
from brian2 import *  # noqa: E402,F401

# populations
N = 1000
N_E = int(N * 0.8)  # pyramidal neurons
N_I = int(N * 0.2)  # interneurons

# voltage
V_L = -70. * mV
V_thr = -50. * mV
V_reset = -55. * mV
V_E = 0. * mV
V_I = -70. * mV

# membrane capacitance
C_m_E = 0.5 * nF
C_m_I = 0.2 * nF

# membrane leak
g_m_E = 25. * nS
g_m_I = 20. * nS

# refractory period
tau_rp_E = 2. * ms
tau_rp_I = 1. * ms

# external stimuli
rate = 3 * Hz
C_ext = 800

# synapses
C_E = N_E
C_I = N_I

# AMPA (excitatory)
g_AMPA_ext_E = 2.08 * nS
g_AMPA_rec_E = 0.104 * nS * 800. / N_E
g_AMPA_ext_I = 1.62 * nS
g_AMPA_rec_I = 0.081 * nS * 800. / N_E
tau_AMPA = 2. * ms

# NMDA (excitatory)
g_NMDA_E = 0.327 * nS * 800. / N_E
g_NMDA_I = 0.258 * nS * 800. / N_E
tau_NMDA_rise = 2. * ms
tau_NMDA_decay = 100. * ms
alpha = 0.5 / ms
Mg2 = 1.

# GABAergic (inhibitory)
g_GABA_E = 1.25 * nS * 200. / N_I
g_GABA_I = 0.973 * nS * 200. / N_I
tau_GABA = 10. * ms

# subpopulations
f = 0.1
p = 5
N_sub = int(N_E * f)
N_non = int(N_E * (1. - f * p))
w_plus = 2.1
w_minus = 1. - f * (w_plus - 1.) / (1. - f)

# stimuli
C_selection = int(f * C_ext)
rate_selection = 25 * Hz

defaultclock.dt = 0.1*ms
seed(2001)

eqs_E = '''
dv / dt = (- g_m_E * (v - V_L) - I_syn) / C_m_E : volt (unless refractory)

I_syn = I_AMPA_ext + I_AMPA_rec + I_NMDA_rec + I_GABA_rec : amp

I_AMPA_ext = g_AMPA_ext_E * (v - V_E) * s_AMPA_ext : amp
I_AMPA_rec = g_AMPA_rec_E * (v - V_E) * 1 * s_AMPA : amp
ds_AMPA_ext / dt = - s_AMPA_ext / tau_AMPA : 1
ds_AMPA / dt = - s_AMPA / tau_AMPA : 1

I_NMDA_rec = g_NMDA_E * (v - V_E) / (1 + Mg2 * exp(-0.062 * v / mV) / 3.57) * s_NMDA_tot : amp
s_NMDA_tot : 1

I_GABA_rec = g_GABA_E * (v - V_I) * s_GABA : amp
ds_GABA / dt = - s_GABA / tau_GABA : 1
'''

eqs_I = '''
dv / dt = (- g_m_I * (v - V_L) - I_syn) / C_m_I : volt (unless refractory)

I_syn = I_AMPA_ext + I_AMPA_rec + I_NMDA_rec + I_GABA_rec : amp

I_AMPA_ext = g_AMPA_ext_I * (v - V_E) * s_AMPA_ext : amp
I_AMPA_rec = g_AMPA_rec_I * (v - V_E) * 1 * s_AMPA : amp
ds_AMPA_ext / dt = - s_AMPA_ext / tau_AMPA : 1
ds_AMPA / dt = - s_AMPA / tau_AMPA : 1

I_NMDA_rec = g_NMDA_I * (v - V_E) / (1 + Mg2 * exp(-0.062 * v / mV) / 3.57) * s_NMDA_tot : amp
s_NMDA_tot : 1

I_GABA_rec = g_GABA_I * (v - V_I) * s_GABA : amp
ds_GABA / dt = - s_GABA / tau_GABA : 1
'''

P_E = NeuronGroup(N_E, eqs_E, threshold='v > V_thr', reset='v = V_reset',
                  refractory=tau_rp_E, method='euler', name='P_E')
P_E.v = V_L
P_I = NeuronGroup(N_I, eqs_I, threshold='v > V_thr', reset='v = V_reset',
                  refractory=tau_rp_I, method='euler', name='P_I')
P_I.v = V_L

eqs_glut = '''
s_NMDA_tot_post = w * s_NMDA : 1 (summed)
ds_NMDA / dt = - s_NMDA / tau_NMDA_decay + alpha * x * (1 - s_NMDA) : 1 (clock-driven)
dx / dt = - x / tau_NMDA_rise : 1 (clock-driven)
w : 1
'''
eqs_pre_glut = '''
s_AMPA += w
x += 1
'''
eqs_pre_gaba = 's_GABA += 1'

C_E_E = Synapses(P_E, P_E, model=eqs_glut, on_pre=eqs_pre_glut,
                 method='euler', name='C_E_E')
C_E_E.connect('i != j')
# Brian2's example assigns w through C_E_E.indices[...], which standalone
# mode cannot evaluate before the run; this expression gives the same
# values (see the .model file).
C_E_E.w = ('int(j < N_non) + '
           'w_plus * int(j >= N_non and floor((i - N_non) / N_sub) == floor((j - N_non) / N_sub)) + '
           'w_minus * int(j >= N_non and floor((i - N_non) / N_sub) != floor((j - N_non) / N_sub))')

C_E_I = Synapses(P_E, P_I, model=eqs_glut, on_pre=eqs_pre_glut,
                 method='euler', name='C_E_I')
C_E_I.connect()
C_E_I.w = 1

C_I_I = Synapses(P_I, P_I, on_pre=eqs_pre_gaba, name='C_I_I')
C_I_I.connect('i != j')
C_I_E = Synapses(P_I, P_E, on_pre=eqs_pre_gaba, name='C_I_E')
C_I_E.connect()

# Brian2 2.9's PoissonInput takes no name; its objects are poissoninput*.
C_P_E = PoissonInput(P_E, 's_AMPA_ext', C_ext, rate, '1')
C_P_I = PoissonInput(P_I, 's_AMPA_ext', C_ext, rate, '1')

# The two selective stimuli target subgroups, as in Brian2's example (the
# .model targets all of P_E with a weight that is 0 outside the
# population, which gives every cell the same input).
stimuli1 = TimedArray(np.r_[np.zeros(40), np.ones(2), np.zeros(100)], dt=25 * ms, name='stimuli1')
input1 = PoissonInput(P_E[N_non:N_non + N_sub], 's_AMPA_ext', C_selection,
                      rate_selection, 'stimuli1(t)')
stimuli2 = TimedArray(np.r_[np.zeros(80), np.ones(2), np.zeros(100)], dt=25 * ms, name='stimuli2')
input2 = PoissonInput(P_E[N_non + N_sub:N_non + 2 * N_sub], 's_AMPA_ext', C_selection,
                      rate_selection, 'stimuli2(t)')
stimuli_reset = TimedArray(np.r_[np.zeros(120), np.ones(2), np.zeros(100)], dt=25 * ms,
                           name='stimuli_reset')
input_reset_I = PoissonInput(P_E, 's_AMPA_ext', C_ext, rate_selection,
                             'stimuli_reset(t)')
input_reset_E = PoissonInput(P_I, 's_AMPA_ext', C_ext, rate_selection,
                             'stimuli_reset(t)')

spikes_E = SpikeMonitor(P_E, name='spikes_E')
spikes_I = SpikeMonitor(P_I, name='spikes_I')


class BothPopulations:
    """Both spike monitors as one, for bench.finish (the total count)."""
    @property
    def num_spikes(self):
        return spikes_E.num_spikes + spikes_I.num_spikes


bench.start()
run(400*ms)
bench.finish(BothPopulations())
