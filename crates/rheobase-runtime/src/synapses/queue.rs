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
        let regrow = |old: Vec<Vec<u32>>| {
            let mut slots: Vec<Vec<u32>> = (0..size).map(|_| Vec::new()).collect();
            for (k, slot) in old.into_iter().enumerate() {
                // The step d in step..step + old_len with d % old_len == k.
                let due = step + (k as u64 + old_len - step % old_len) % old_len;
                slots[(due % size as u64) as usize] = slot;
            }
            slots
        };
        self.slots = regrow(std::mem::take(&mut self.slots));
        self.late = regrow(std::mem::take(&mut self.late));
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
}
