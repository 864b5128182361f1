//! Sets of TCP states, as the kernel's inet_diag state mask stores them
//! (`1 << state`): what a source is asked for and what a filter keeps.

use super::TcpState;

/// A set of TCP states. The bits are inet_diag's, so a set goes to the
/// kernel as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateSet(u32);

impl StateSet {
    /// No state: nothing can match.
    pub const EMPTY: StateSet = StateSet(0);
    /// Every TCP state (bits 1 to 11).
    pub const ALL: StateSet = StateSet(0xffe);

    /// The set of the states whose bits are set in an inet_diag mask.
    pub const fn from_bits(bits: u32) -> StateSet {
        StateSet(bits)
    }

    /// The inet_diag mask.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// One state.
    pub fn of(state: TcpState) -> StateSet {
        StateSet(state.mask_bit())
    }

    /// LISTEN alone: what `-l` lists.
    pub fn listening() -> StateSet {
        StateSet::of(TcpState::Listen)
    }

    /// Every state but LISTEN: what netstat lists without `-a` or `-l`,
    /// and the states a connection can be in.
    pub fn connections() -> StateSet {
        StateSet::ALL.without(StateSet::listening())
    }

    /// True when `state` is in the set.
    pub fn contains(self, state: TcpState) -> bool {
        self.0 & state.mask_bit() != 0
    }

    /// True when the set has no state.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The states in either set.
    pub fn union(self, other: StateSet) -> StateSet {
        StateSet(self.0 | other.0)
    }

    /// The states in both sets.
    pub fn intersection(self, other: StateSet) -> StateSet {
        StateSet(self.0 & other.0)
    }

    /// The states of this set that are not in `other`.
    pub fn without(self, other: StateSet) -> StateSet {
        StateSet(self.0 & !other.0)
    }

    /// True when every state of `other` is in this set.
    pub fn includes(self, other: StateSet) -> bool {
        self.0 & other.0 == other.0
    }
}

impl FromIterator<TcpState> for StateSet {
    fn from_iter<I: IntoIterator<Item = TcpState>>(states: I) -> StateSet {
        states
            .into_iter()
            .fold(StateSet::EMPTY, |set, s| set.union(StateSet::of(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_the_kernels_masks() {
        assert_eq!(StateSet::ALL, TcpState::ALL.into_iter().collect());
        assert_eq!(StateSet::listening().bits(), 1 << 10);
        assert_eq!(StateSet::connections().bits(), 0xffe & !(1 << 10));
        let teardown: StateSet = [TcpState::TimeWait, TcpState::CloseWait]
            .into_iter()
            .collect();
        assert!(teardown.contains(TcpState::TimeWait) && !teardown.contains(TcpState::Listen));
        assert!(StateSet::connections().includes(teardown));
        assert_eq!(
            teardown.intersection(StateSet::of(TcpState::TimeWait)),
            StateSet::of(TcpState::TimeWait)
        );
        assert!(StateSet::listening()
            .intersection(StateSet::connections())
            .is_empty());
    }
}
