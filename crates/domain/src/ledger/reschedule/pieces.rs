//! Cutting a plan into pieces, each applied in a transaction of its own, so bookings are
//! decided between them: a pure rule, no I/O.
//!
//! The database checks every commit against capacity, so a dose may take a place in a piece
//! only once every dose the plan moves out of that place has left it: a step (one booking's
//! share of the plan) that takes a cell goes in the same piece as, or a later piece than, every
//! step that frees it. Steps that wait on each other in a circle (A takes B's old place and B
//! takes A's) go in one piece together, however large. Otherwise pieces are filled, in an order
//! that keeps that rule, up to a cost budget.

use super::{Move, Plan, Unplaced};
use crate::booking::Appointment;
use crate::clinic::ClinicId;
use crate::ledger::{IdMap, epoch_day};
use crate::product::Product;
use jiff::civil::Date;
use std::hash::Hash;
use std::ops::Range;

/// A place the database counts: an hour band, or a product's planned doses on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Band(ClinicId, Date, u8),
    Supply(ClinicId, Date, Product),
}

/// Hashed as one word (clinic, day, band or product, kind), not field by field: a national plan
/// looks up millions of cells, and a word is one round of the hasher.
impl Hash for Cell {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (kind, clinic, day, which) = match *self {
            Cell::Band(clinic, day, hour) => (0u64, clinic, day, u64::from(hour)),
            Cell::Supply(clinic, day, product) => (1, clinic, day, product.index() as u64),
        };
        let day = u64::from(epoch_day(day) as u32 & 0xff_ffff);
        state.write_u64(u64::from(clinic.0) << 32 | day << 8 | which << 1 | kind);
    }
}

impl Cell {
    /// The two cells an appointment holds.
    pub fn of(a: &Appointment) -> [Cell; 2] {
        [
            Cell::Band(a.clinic, a.day, a.hour),
            Cell::Supply(a.clinic, a.day, a.product),
        ]
    }
}

/// What a changed booking costs a piece, in the units of the writer's budget (about a row
/// written next to the last one): its own row and its message.
pub const CHANGED_COST: u64 = 2;

/// What each dose moved (or left without a place) adds: its record, and the use counts of the
/// places it leaves and takes (band and day supply each). Those counts lie on pages spread over
/// the whole file, one page written per count, so a dose costs more than its rows: at national
/// scale a piece of moves took about twenty times as long per booking as a piece of people only
/// told (`bench/reschedule.md`). With ten, a piece of moves there takes about 15 ms (p50; 65 ms
/// when a dose cost one), which keeps the bookings behind it within their 100 ms.
pub const DOSE_COST: u64 = 10;

/// One step of a plan, for cutting: the cells it frees and takes, and what it costs to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<K> {
    pub frees: Vec<K>,
    pub takes: Vec<K>,
    pub cost: u64,
}

/// Cuts `steps` into pieces: each piece lists step indices, every step is in exactly one
/// piece, a step that takes a cell is in no earlier piece than any step that frees it, and a
/// piece costs at most `max_cost` unless it holds one group of steps that wait on each other.
pub fn cut<K: Hash + Eq + Copy>(steps: &[Step<K>], max_cost: u64) -> Vec<Vec<usize>> {
    let mut pieces: Vec<Vec<usize>> = Vec::new();
    let mut cost = 0u64;
    for group in ordered_groups(steps) {
        let group_cost: u64 = group.iter().map(|&i| steps[i].cost).sum();
        match pieces.last_mut() {
            Some(piece) if !piece.is_empty() && cost.saturating_add(group_cost) <= max_cost => {
                piece.extend(group);
                cost += group_cost;
            }
            _ => {
                pieces.push(group);
                cost = group_cost;
            }
        }
    }
    pieces
}

/// The steps in groups that wait on each other (strongly connected through the cells), the
/// groups in an order where every step freeing a cell comes before (or with) every step taking
/// it. Tarjan's algorithm, without recursion: it finds the groups in reverse of that order.
fn ordered_groups<K: Hash + Eq + Copy>(steps: &[Step<K>]) -> Vec<Vec<usize>> {
    let graph = Graph::of(steps);
    let nodes = graph.len();
    const UNSEEN: usize = usize::MAX;
    let mut index = vec![UNSEEN; nodes];
    let mut low = vec![0usize; nodes];
    let mut on_stack = vec![false; nodes];
    let mut stack: Vec<usize> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut next_index = 0;
    // (node, how many of its edges have been followed)
    let mut path: Vec<(usize, usize)> = Vec::new();
    for root in 0..nodes {
        if index[root] != UNSEEN {
            continue;
        }
        path.push((root, 0));
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut followed)) = path.last_mut() {
            if let Some(&next) = graph.edges(node).get(*followed) {
                *followed += 1;
                if index[next] == UNSEEN {
                    index[next] = next_index;
                    low[next] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    path.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            path.pop();
            if let Some(&(parent, _)) = path.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut group = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    if member < steps.len() {
                        group.push(member);
                    }
                    if member == node {
                        break;
                    }
                }
                if !group.is_empty() {
                    group.sort_unstable();
                    groups.push(group);
                }
            }
        }
    }
    groups.reverse();
    groups
}

/// Steps (nodes `0..steps`) and cells (the nodes after): a step points at the cells it frees,
/// a cell at the steps that take it.
struct Graph {
    starts: Vec<usize>,
    targets: Vec<usize>,
}

impl Graph {
    fn of<K: Hash + Eq + Copy>(steps: &[Step<K>]) -> Graph {
        let mut cells: IdMap<K, usize> = IdMap::default();
        let mut node_of = |cell: K| {
            let next = steps.len() + cells.len();
            *cells.entry(cell).or_insert(next)
        };
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            edges.extend(step.frees.iter().map(|&cell| (i, node_of(cell))));
            edges.extend(step.takes.iter().map(|&cell| (node_of(cell), i)));
        }
        let nodes = steps.len() + cells.len();
        // Edges grouped by where they start in one counting pass (a national plan has tens of
        // millions: sorting them all took a quarter of its planning), then each node's few
        // edges sorted and deduplicated.
        let mut starts = vec![0usize; nodes + 1];
        for &(from, _) in &edges {
            starts[from + 1] += 1;
        }
        for n in 0..nodes {
            starts[n + 1] += starts[n];
        }
        let mut filled = starts.clone();
        let mut grouped = vec![0usize; edges.len()];
        for (from, to) in edges {
            grouped[filled[from]] = to;
            filled[from] += 1;
        }
        let mut targets = Vec::with_capacity(grouped.len());
        for n in 0..nodes {
            let mine = &mut grouped[starts[n]..starts[n + 1]];
            mine.sort_unstable();
            starts[n] = targets.len();
            targets.extend(
                mine.iter()
                    .enumerate()
                    .filter_map(|(i, &to)| (i == 0 || mine[i - 1] != to).then_some(to)),
            );
        }
        starts[nodes] = targets.len();
        Graph { starts, targets }
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    fn edges(&self, node: usize) -> &[usize] {
        &self.targets[self.starts[node]..self.starts[node + 1]]
    }
}

/// One booking's share of a plan: where its moves and unplaced doses are in the plan's lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub moves: Range<usize>,
    pub unplaced: Range<usize>,
}

impl Plan {
    /// Each changed booking's moves and unplaced doses (both lists are in the order of
    /// `changed`, booking by booking).
    pub fn shares(&self) -> Vec<Share> {
        let (mut m, mut u) = (0, 0);
        self.changed
            .iter()
            .map(|booking| {
                let moves = m..m + count_of(&self.moves[m..], |x: &Move| x.booking == booking.id);
                let unplaced =
                    u..u + count_of(&self.unplaced[u..], |x: &Unplaced| x.booking == booking.id);
                (m, u) = (moves.end, unplaced.end);
                Share { moves, unplaced }
            })
            .collect()
    }

    /// The plan's changed bookings cut into pieces (indices into `changed`, see [`cut`]), each
    /// costing about `max_cost` at most (see [`CHANGED_COST`] and [`DOSE_COST`]).
    pub fn pieces(&self, shares: &[Share], max_cost: u64) -> Vec<Vec<usize>> {
        let steps: Vec<Step<Cell>> = shares
            .iter()
            .map(|share| {
                let moves = &self.moves[share.moves.clone()];
                let unplaced = &self.unplaced[share.unplaced.clone()];
                Step {
                    frees: moves
                        .iter()
                        .map(|m| m.from)
                        .chain(unplaced.iter().map(|u| u.from))
                        .flat_map(|a| Cell::of(&a))
                        .collect(),
                    takes: moves.iter().flat_map(|m| Cell::of(&m.to)).collect(),
                    cost: CHANGED_COST + DOSE_COST * (moves.len() + unplaced.len()) as u64,
                }
            })
            .collect();
        cut(&steps, max_cost)
    }
}

fn count_of<T>(items: &[T], mine: impl Fn(&T) -> bool) -> usize {
    items.iter().take_while(|x| mine(x)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn step(frees: &[u8], takes: &[u8], cost: u64) -> Step<u8> {
        Step {
            frees: frees.to_vec(),
            takes: takes.to_vec(),
            cost,
        }
    }

    fn piece_of(pieces: &[Vec<usize>], steps: usize) -> Vec<usize> {
        let mut of = vec![usize::MAX; steps];
        for (p, piece) in pieces.iter().enumerate() {
            for &i in piece {
                of[i] = p;
            }
        }
        of
    }

    #[test]
    fn a_step_into_a_freed_place_waits_for_the_step_that_frees_it() {
        // Step 0 takes cell 1, which step 1 frees: step 1 must not come later.
        let steps = [step(&[0], &[1], 1), step(&[1], &[2], 1)];
        let pieces = cut(&steps, 1);
        let of = piece_of(&pieces, 2);
        assert!(of[1] <= of[0], "{pieces:?}");
        assert_eq!(pieces.len(), 2);
    }

    #[test]
    fn steps_that_wait_on_each_other_share_a_piece_whatever_the_budget() {
        let steps = [step(&[0], &[1], 5), step(&[1], &[0], 5), step(&[], &[], 1)];
        let pieces = cut(&steps, 1);
        let of = piece_of(&pieces, 3);
        assert_eq!(of[0], of[1], "{pieces:?}");
        assert_ne!(of[0], of[2]);
    }

    #[test]
    fn independent_steps_fill_pieces_up_to_the_budget() {
        let steps: Vec<Step<u8>> = (0..10).map(|_| step(&[], &[], 3)).collect();
        let pieces = cut(&steps, 9);
        assert_eq!(
            pieces.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
    }

    proptest! {
        #[test]
        fn pieces_keep_every_step_once_free_before_take_and_the_budget(
            steps in proptest::collection::vec(
                (
                    proptest::collection::vec(0u8..24, 0..3),
                    proptest::collection::vec(0u8..24, 0..3),
                    1u64..6,
                ),
                0..120,
            ),
            max_cost in 1u64..30,
        ) {
            let steps: Vec<Step<u8>> = steps
                .into_iter()
                .map(|(frees, takes, cost)| Step { frees, takes, cost })
                .collect();
            let pieces = cut(&steps, max_cost);
            let mut all: Vec<usize> = pieces.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..steps.len()).collect::<Vec<_>>());
            let of = piece_of(&pieces, steps.len());
            for (a, freeing) in steps.iter().enumerate() {
                for (b, taking) in steps.iter().enumerate() {
                    if freeing.frees.iter().any(|c| taking.takes.contains(c)) {
                        prop_assert!(of[a] <= of[b], "{} frees what {} takes: {:?}", a, b, pieces);
                    }
                }
            }
            for piece in &pieces {
                prop_assert!(!piece.is_empty());
                let cost: u64 = piece.iter().map(|&i| steps[i].cost).sum();
                if cost > max_cost {
                    // Over the budget only as one group of steps that wait on each other.
                    let mut sorted = piece.clone();
                    sorted.sort_unstable();
                    prop_assert!(ordered_groups(&steps).contains(&sorted), "{:?}", piece);
                }
            }
        }
    }
}
