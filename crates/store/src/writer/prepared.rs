//! A supply plan made ready to apply in pieces: its id and the pieces it is cut into, worked out
//! once (at the preview when the apply can reuse it). Apart from `supply`, which applies it, so
//! that the operations (`ops`) can keep a preview without depending on the apply.

use domain::ledger::reschedule::Plan;
use domain::ledger::reschedule::pieces::Share;
use std::ops::Range;
use std::sync::Arc;

/// The message of one person told: about a row read and a row written.
const TOLD_COST: u64 = 2;

/// One transaction's share of a change.
pub(super) enum Piece {
    /// Changed bookings (indices into `plan.changed`).
    Changed(Vec<usize>),
    /// People told without a move (a range of `plan.informed`).
    Informed(Range<usize>),
}

/// A plan ready to apply: its id and its pieces, worked out once — when the plan is previewed,
/// so that applying it unchanged spends none of its first piece on them.
pub(super) struct Prepared {
    pub plan: Arc<Plan>,
    pub id: String,
    pub shares: Arc<[Share]>,
    pub pieces: Arc<[Piece]>,
}

impl Prepared {
    pub(super) fn of(plan: Arc<Plan>, piece_cost: u64) -> Prepared {
        let shares = plan.shares();
        let mut pieces: Vec<Piece> = plan
            .pieces(&shares, piece_cost)
            .into_iter()
            .map(Piece::Changed)
            .collect();
        let told = plan.informed.len();
        let told_per_piece = (piece_cost / TOLD_COST).max(1) as usize;
        pieces.extend(
            (0..told)
                .step_by(told_per_piece)
                .map(|from| Piece::Informed(from..(from + told_per_piece).min(told))),
        );
        Prepared {
            id: plan.id(),
            plan,
            shares: shares.into(),
            pieces: pieces.into(),
        }
    }
}
