//! The spike queue of a `pre` pathway: synapses waiting for their delay.

/// Spikes in flight on a `pre` pathway: a ring of `max_delay + 1` slots,
/// slot `d % len` holding the synapses to deliver at step `d`, in push
/// order. Slots keep their capacity, so after a warm-up no step allocates.
///
/// Each slot has two parts. On one process only the second (`early`) is
/// used. On one rank of several, spikes of other ranks arrive once per
/// exchange window, after some later spikes of this rank were already
/// queued; but every synapse pushed late into a slot was pushed, on one
/// process, before every synapse pushed on time into it (its spike is
/// older, see `crate::partition`), so delivering `late` then `early`
/// gives the one-process order.
#[derive(Debug, Default)]
pub(crate) struct SpikeQueue {
    slots: Vec<Vec<u32>>,
    late: Vec<Vec<u32>>,
    /// The slot handed out by [`SpikeQueue::take`] came from `late`.
    took_late: bool,
    /// The step of each queued synapse's spike, kept only when asked
    /// ([`SpikeQueue::keep_steps`]), so that other queues carry nothing.
    steps: Option<Box<SpikeSteps>>,
}

/// The spike steps of a [`SpikeQueue`]'s synapses, per part of each
/// slot: marks `(step, start)`, the synapses from position `start` of
/// the part on (up to the next mark) belong to spikes of step `step`.
/// Pushes come a step's spikes at a time, so a slot holds a mark per
/// step of the spikes it holds, not one per synapse.
#[derive(Debug, Default)]
struct SpikeSteps {
    slots: Vec<Vec<(u64, u32)>>,
    late: Vec<Vec<(u64, u32)>>,
    /// The marks of the slot last taken, late part first.
    taken: Vec<(u64, u32)>,
}

impl SpikeQueue {
    /// Makes room for delays up to `max_delay` steps, keeping every
    /// queued spike due at the same step. `step` is the current step: the
    /// slot of step `d >= step` is `d % len`, and the ring holds steps
    /// `step..step + len`.
    pub(super) fn reserve(&mut self, max_delay: u64, step: u64) {
        let size = max_delay as usize + 1;
        if size <= self.slots.len() {
            return;
        }
        let old_len = self.slots.len() as u64;
        fn regrow<T>(old: &mut Vec<Vec<T>>, size: usize, step: u64, old_len: u64) {
            let mut slots: Vec<Vec<T>> = (0..size).map(|_| Vec::new()).collect();
            for (k, slot) in std::mem::take(old).into_iter().enumerate() {
                // The step d in step..step + old_len with d % old_len == k.
                let due = step + (k as u64 + old_len - step % old_len) % old_len;
                slots[(due % size as u64) as usize] = slot;
            }
            *old = slots;
        }
        regrow(&mut self.slots, size, step, old_len);
        regrow(&mut self.late, size, step, old_len);
        if let Some(steps) = &mut self.steps {
            regrow(&mut steps.slots, size, step, old_len);
            regrow(&mut steps.late, size, step, old_len);
        }
    }

    /// Keeps, from now on, the step of every queued synapse's spike
    /// ([`SpikeQueue::mark`], [`SpikeQueue::taken_steps`]). Call it before
    /// anything is queued.
    pub(super) fn keep_steps(&mut self) {
        let empty = || (0..self.slots.len()).map(|_| Vec::new()).collect();
        self.steps = Some(Box::new(SpikeSteps {
            slots: empty(),
            late: empty(),
            taken: Vec::new(),
        }));
    }

    /// Whether the queue keeps its spikes' steps.
    pub(super) fn keeps_steps(&self) -> bool {
        self.steps.is_some()
    }

    /// Notes that the synapses pushed next into the slot of step `due`
    /// (its `late` part or not) belong to spikes of step `step`; call it
    /// before pushing them. Nothing, unless the queue keeps steps.
    pub(super) fn mark(&mut self, due: u64, step: u64, late: bool) {
        let k = self.slot_of(due);
        let Some(steps) = &mut self.steps else { return };
        let (part, marks) = if late {
            (&self.late[k], &mut steps.late[k])
        } else {
            (&self.slots[k], &mut steps.slots[k])
        };
        if marks.last().is_none_or(|&(s, _)| s != step) {
            marks.push((step, part.len() as u32));
        }
    }

    /// The spike steps of the slot last taken ([`SpikeQueue::take`]):
    /// marks `(step, start)` over its positions, ascending in `start`;
    /// empty unless the queue keeps steps.
    pub(super) fn taken_steps(&self) -> &[(u64, u32)] {
        self.steps.as_ref().map_or(&[], |s| &s.taken)
    }

    fn slot_of(&self, step: u64) -> usize {
        (step % self.slots.len() as u64) as usize
    }

    /// Slots of the ring now.
    pub(super) fn slot_count(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Whether the ring has no slots yet (no delays prepared).
    pub(super) fn is_unsized(&self) -> bool {
        self.slots.is_empty()
    }

    /// The synapses due at step `due` (within the ring's reach), pushed
    /// on time.
    pub(super) fn slot(&mut self, due: u64) -> &mut Vec<u32> {
        let k = self.slot_of(due);
        &mut self.slots[k]
    }

    /// The synapses due at step `due` pushed after their spike's step,
    /// when other ranks' spikes arrived.
    pub(super) fn late_slot(&mut self, due: u64) -> &mut Vec<u32> {
        let k = self.slot_of(due);
        &mut self.late[k]
    }

    /// Takes the synapses due at `step` out of the ring, for delivery:
    /// those pushed late, then those pushed on time.
    pub(super) fn take(&mut self, step: u64) -> Vec<u32> {
        let k = self.slot_of(step);
        if let Some(steps) = &mut self.steps {
            let late = self.late[k].len() as u32;
            steps.taken.clear();
            steps.taken.append(&mut steps.late[k]);
            let on_time = steps.slots[k].iter().map(|&(s, at)| (s, at + late));
            steps.taken.extend(on_time);
            steps.slots[k].clear();
        }
        if self.late[k].is_empty() {
            self.took_late = false;
            return std::mem::take(&mut self.slots[k]);
        }
        self.took_late = true;
        let mut due = std::mem::take(&mut self.late[k]);
        due.extend_from_slice(&self.slots[k]);
        self.slots[k].clear();
        due
    }

    /// Puts the delivered slot of `step` back, emptied, keeping its
    /// capacity so that later steps do not allocate.
    pub(super) fn put_back(&mut self, step: u64, mut due: Vec<u32>) {
        due.clear();
        let k = self.slot_of(step);
        if self.took_late {
            self.late[k] = due;
        } else {
            self.slots[k] = due;
        }
    }

    pub(super) fn bytes(&self) -> usize {
        self.slots
            .iter()
            .chain(&self.late)
            .map(|s| std::mem::size_of::<Vec<u32>>() + s.capacity() * 4)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_growth_keeps_due_steps() {
        let mut q = SpikeQueue::default();
        q.reserve(3, 10);
        // Due at steps 10..14.
        for d in 0..4u32 {
            let slot = q.slot_of(10 + u64::from(d));
            q.slots[slot].push(d);
            q.late[slot].push(10 + d);
        }
        q.reserve(9, 10);
        for d in 0..4u32 {
            assert_eq!(q.slots[q.slot_of(10 + u64::from(d))], vec![d]);
            assert_eq!(q.late[q.slot_of(10 + u64::from(d))], vec![10 + d]);
        }
    }

    #[test]
    fn late_synapses_are_delivered_first() {
        let mut q = SpikeQueue::default();
        q.reserve(4, 0);
        q.slot(3).extend([7, 8]);
        q.late_slot(3).extend([1, 2]);
        q.slot(2).push(5);
        let due = q.take(2);
        assert_eq!(due, [5]);
        q.put_back(2, due);
        let due = q.take(3);
        assert_eq!(due, [1, 2, 7, 8]);
        q.put_back(3, due);
        assert!(q.slot(3).is_empty() && q.late_slot(3).is_empty());
        assert!(q.late_slot(3).capacity() >= 4);
    }

    /// A queue keeping its spikes' steps marks where each step's synapses
    /// start in a slot, late part first, and keeps them through growth.
    #[test]
    fn kept_steps_mark_each_spike_step_of_a_slot() {
        let mut q = SpikeQueue::default();
        q.keep_steps();
        q.reserve(2, 0);
        // Due at step 3: synapses 7, 8 of a spike at step 1, then 9 of
        // step 2 on time; 4 of step 0 pushed late.
        q.mark(3, 1, false);
        q.slot(3).extend([7, 8]);
        q.reserve(5, 1);
        q.mark(3, 2, false);
        q.slot(3).push(9);
        q.mark(3, 0, true);
        q.late_slot(3).push(4);
        let due = q.take(3);
        assert_eq!(due, [4, 7, 8, 9]);
        assert_eq!(q.taken_steps(), [(0, 0), (1, 1), (2, 3)]);
        q.put_back(3, due);
        // Other queues keep nothing.
        let mut plain = SpikeQueue::default();
        plain.reserve(2, 0);
        plain.mark(1, 0, false);
        plain.slot(1).push(1);
        assert_eq!(plain.take(1), [1]);
        assert!(plain.taken_steps().is_empty());
    }
}
