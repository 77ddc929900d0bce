//! The spike queue of a `pre` pathway: synapses waiting for their delay.

/// Spikes in flight on a `pre` pathway: a ring of `max_delay + 1` slots,
/// slot `d % len` holding the synapses to deliver at step `d`, in push
/// order. Slots keep their capacity, so after a warm-up no step allocates.
#[derive(Debug, Default)]
pub(crate) struct SpikeQueue {
    slots: Vec<Vec<u32>>,
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
        let old = std::mem::take(&mut self.slots);
        self.slots = (0..size).map(|_| Vec::new()).collect();
        let old_len = old.len() as u64;
        for (k, slot) in old.into_iter().enumerate() {
            // The step d in step..step + old_len with d % old_len == k.
            let due = step + (k as u64 + old_len - step % old_len) % old_len;
            self.slots[(due % size as u64) as usize] = slot;
        }
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

    /// The synapses due at step `due` (within the ring's reach).
    pub(super) fn slot(&mut self, due: u64) -> &mut Vec<u32> {
        let k = self.slot_of(due);
        &mut self.slots[k]
    }

    /// Takes the synapses due at `step` out of the ring, for delivery.
    pub(super) fn take(&mut self, step: u64) -> Vec<u32> {
        std::mem::take(self.slot(step))
    }

    /// Puts the delivered slot of `step` back, emptied, keeping its
    /// capacity so that later steps do not allocate.
    pub(super) fn put_back(&mut self, step: u64, mut due: Vec<u32>) {
        due.clear();
        *self.slot(step) = due;
    }

    pub(super) fn bytes(&self) -> usize {
        self.slots
            .iter()
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
        }
        q.reserve(9, 10);
        for d in 0..4u32 {
            assert_eq!(q.slots[q.slot_of(10 + u64::from(d))], vec![d]);
        }
    }
}
